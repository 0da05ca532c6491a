/**
 * Child process of test/adversary/llm-http.test.ts: one answer from the OpenAI service at
 * argv[2] (a base URL), then the task ends and nothing is closed by hand: the process must exit on
 * its own (httpFetch's idle keep-alive socket does not hold it open).
 */
import {
  LLMContextFrame,
  LLMFullResponseEndFrame,
  Pipeline,
  PipelineTask,
  SystemClock,
  silentLogger,
} from "../../src/index.js";
import { LLMContext } from "../../src/context/index.js";
import { OpenAILLMService } from "../../src/services/llm/openai/index.js";
import { FrameRecorder } from "../../src/testing/index.js";

const llm = new OpenAILLMService({ apiKey: "sk-test", baseURL: process.argv[2], env: {}, model: "gpt-test" });
const down = new FrameRecorder();
const task = new PipelineTask(new Pipeline([llm, down]), {
  clock: new SystemClock(),
  logger: silentLogger,
  idleTimeoutMs: null,
});
const done = task.run();
task.queueFrame(new LLMContextFrame(new LLMContext({ messages: [{ role: "user", content: "Hi" }] })));
const poll = setInterval(() => {
  if (down.ofType(LLMFullResponseEndFrame).length > 0) {
    clearInterval(poll);
    void task.stopWhenDone();
  }
}, 5);
await done;
process.stdout.write("answered\n");
