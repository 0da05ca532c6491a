/** Function calling run by the LLM service (docs/design/function-calls.md). */
export {
  FunctionCallRunner,
  type FunctionCallBatch,
  type FunctionCallHost,
  type FunctionRegistration,
  type RequestedCall,
} from "./function-call-runner.js";
export type {
  FunctionCallContext,
  FunctionCallSettings,
  FunctionHandler,
  RegisterFunctionOptions,
} from "./function-call-types.js";
export { MAX_ERROR_CHARS } from "./call-results.js";
