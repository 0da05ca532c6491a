// A Twilio call to the echo bot, end to end: test/conversation/phone-calls.ts.
import { describeNotACall, describePhoneCalls } from "./phone-calls.js";

describePhoneCalls("twilio");
describeNotACall();
