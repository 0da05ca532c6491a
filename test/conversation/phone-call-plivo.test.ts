// A Plivo call to the echo bot, end to end: test/conversation/phone-calls.ts.
import { describePhoneCalls } from "./phone-calls.js";

describePhoneCalls("plivo");
