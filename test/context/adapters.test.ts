import { describe, expect, it } from "vitest";
import {
  LLMContext,
  MISSING_RESULT_TEXT,
  defineTool,
  toAnthropicRequest,
  toGeminiRequest,
  toOpenAIRequest,
  type LLMMessage,
} from "../../src/context/index.js";

// Fixtures: the request shapes documented by each provider (OpenAI chat completions, Anthropic
// Messages, Gemini generateContent), for one conversation: a system prompt, a question, a tool
// call and its result.
const getWeather = defineTool({
  name: "get_weather",
  description: "Current weather",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
});

function weatherConversation(): LLMContext {
  const context = new LLMContext({
    messages: [
      { role: "system", content: "You are a phone agent." },
      { role: "user", content: "What's the weather in Paris?" },
    ],
    tools: [getWeather],
  });
  context.recordToolCalls([{ id: "call_7", name: "get_weather", arguments: '{"city":"Paris"}' }]);
  context.recordToolResult("call_7", { temp_c: 18 });
  return context;
}

describe("toOpenAIRequest", () => {
  it("sends the documented request and the follow-up after a tool call", () => {
    expect(toOpenAIRequest(weatherConversation().snapshot())).toEqual({
      messages: [
        { role: "system", content: "You are a phone agent." },
        { role: "user", content: "What's the weather in Paris?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [
            {
              id: "call_7",
              type: "function",
              function: { name: "get_weather", arguments: '{"city":"Paris"}' },
            },
          ],
        },
        { role: "tool", tool_call_id: "call_7", content: '{"temp_c":18}' },
      ],
      tools: [
        {
          type: "function",
          function: {
            name: "get_weather",
            description: "Current weather",
            parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
          },
        },
      ],
      tool_choice: "auto",
    });
  });

  it("sends no tools and no tool_choice when there are no tools (OpenAI refuses an empty list)", () => {
    expect(toOpenAIRequest({ messages: [{ role: "user", content: "hi" }] })).toEqual({
      messages: [{ role: "user", content: "hi" }],
    });
  });

  it("names a required function the way OpenAI spells it", () => {
    const context = weatherConversation();
    context.setToolChoice({ type: "function", name: "get_weather" });
    expect(toOpenAIRequest(context).tool_choice).toEqual({
      type: "function",
      function: { name: "get_weather" },
    });
  });

  it("keeps image and audio parts as they are", () => {
    const content = [
      { type: "text", text: "What is this?" },
      { type: "image_url", image_url: { url: "https://example.com/cat.png", detail: "low" } },
      { type: "input_audio", input_audio: { data: "UklGRg==", format: "wav" } },
    ] as const;
    expect(toOpenAIRequest({ messages: [{ role: "user", content }] }).messages).toEqual([
      { role: "user", content },
    ]);
  });
});

describe("toAnthropicRequest", () => {
  it("pulls the system prompt out and sends tool_use and tool_result blocks, as documented", () => {
    expect(toAnthropicRequest(weatherConversation().snapshot())).toEqual({
      system: "You are a phone agent.",
      messages: [
        { role: "user", content: [{ type: "text", text: "What's the weather in Paris?" }] },
        {
          role: "assistant",
          content: [{ type: "tool_use", id: "call_7", name: "get_weather", input: { city: "Paris" } }],
        },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "call_7", content: '{"temp_c":18}' }] },
      ],
      tools: [
        {
          name: "get_weather",
          description: "Current weather",
          input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
        },
      ],
      tool_choice: { type: "auto" },
    });
  });

  it("merges consecutive same-role messages, tool results first, and later system text into the user turn", () => {
    const messages: LLMMessage[] = [
      { role: "user", content: "Hi" },
      { role: "user", content: "Anyone there?" },
      {
        role: "assistant",
        content: "Checking.",
        tool_calls: [{ id: "t1", type: "function", function: { name: "get_weather", arguments: "{}" } }],
      },
      { role: "tool", tool_call_id: "t1", content: "sunny" },
      { role: "system", content: "Be brief." },
      { role: "user", content: "Well?" },
    ];
    const request = toAnthropicRequest({ messages, tools: [getWeather], toolChoice: "required" });
    expect(request.system).toBeUndefined();
    expect(request.messages).toEqual([
      {
        role: "user",
        content: [
          { type: "text", text: "Hi" },
          { type: "text", text: "Anyone there?" },
        ],
      },
      {
        role: "assistant",
        content: [
          { type: "text", text: "Checking." },
          { type: "tool_use", id: "t1", name: "get_weather", input: {} },
        ],
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "t1", content: "sunny" },
          { type: "text", text: "Be brief." },
          { type: "text", text: "Well?" },
        ],
      },
    ]);
    expect(request.tool_choice).toEqual({ type: "any" });
  });

  it("starts with a user turn when the bot speaks first, and trims the final assistant text", () => {
    expect(toAnthropicRequest({ messages: [{ role: "system", content: "Greet the caller." }] })).toEqual({
      system: "Greet the caller.",
      messages: [{ role: "user", content: [{ type: "text", text: "(The conversation begins.)" }] }],
    });
    const request = toAnthropicRequest(
      { messages: [{ role: "assistant", content: "Hello, how can ", interrupted: true }] },
      { leadingUserText: "Hi" },
    );
    expect(request.messages).toEqual([
      { role: "user", content: [{ type: "text", text: "Hi" }] },
      { role: "assistant", content: [{ type: "text", text: "Hello, how can" }] },
    ]);
  });

  it("converts images to base64 and url sources", () => {
    const request = toAnthropicRequest({
      messages: [
        {
          role: "user",
          content: [
            { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } },
            { type: "image_url", image_url: { url: "https://example.com/cat.jpg" } },
            { type: "text", text: "Same cat?" },
          ],
        },
      ],
    });
    expect(request.messages[0]?.content).toEqual([
      { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } },
      { type: "image", source: { type: "url", url: "https://example.com/cat.jpg" } },
      { type: "text", text: "Same cat?" },
    ]);
  });

  it("refuses audio and images it cannot take, naming the part", () => {
    expect(() =>
      toAnthropicRequest({
        messages: [
          { role: "user", content: [{ type: "input_audio", input_audio: { data: "AA==", format: "wav" } }] },
        ],
      }),
    ).toThrow(
      "messages[0].content[0]: Anthropic takes no audio input; transcribe it first (an STT service) or remove the part",
    );
    expect(() =>
      toAnthropicRequest({
        messages: [
          {
            role: "user",
            content: [{ type: "image_url", image_url: { url: "data:image/bmp;base64,Qk0=" } }],
          },
        ],
      }),
    ).toThrow(
      "messages[0].content[0]: Anthropic takes PNG, JPEG, GIF or WebP images; this one is image/bmp. Convert it first",
    );
  });

  it("sends past calls as text when the request has no tools", () => {
    const context = weatherConversation();
    context.setTools([]);
    expect(toAnthropicRequest(context).messages.slice(1)).toEqual([
      { role: "assistant", content: [{ type: "text", text: '(Called get_weather with {"city":"Paris"}.)' }] },
      { role: "user", content: [{ type: "text", text: '(Result of get_weather: {"temp_c":18})' }] },
    ]);
  });

  it("answers a call that has no result and quotes a result that answers no call", () => {
    const request = toAnthropicRequest({
      messages: [
        { role: "user", content: "q" },
        {
          role: "assistant",
          tool_calls: [{ id: "a", type: "function", function: { name: "get_weather", arguments: "{}" } }],
        },
        { role: "user", content: "hello?" },
        { role: "tool", tool_call_id: "zz", content: "stray" },
      ],
      tools: [getWeather],
    });
    expect(request.messages.slice(2)).toEqual([
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "a", content: MISSING_RESULT_TEXT },
          { type: "text", text: "hello?" },
          { type: "text", text: "Result of tool call zz: stray" },
        ],
      },
    ]);
  });
});

describe("toAnthropicRequest: thinking blocks (extended thinking)", () => {
  const thought = { type: "thinking" as const, thinking: "Paris, so call get_weather.", signature: "c2ln" };
  const redacted = { type: "redacted_thinking" as const, data: "ZW5j" };

  function thinkingConversation(): LLMContext {
    const context = new LLMContext({
      messages: [{ role: "user", content: "What's the weather in Paris?" }],
      tools: [getWeather],
    });
    context.recordToolCalls([{ id: "toolu_1", name: "get_weather", arguments: '{"city":"Paris"}' }], {
      anthropicThinking: [redacted, thought],
    });
    context.addAssistantText("Let me check.");
    context.recordToolResult("toolu_1", { temp_c: 18 });
    return context;
  }

  it("sends them first, unchanged and in order, then the text, then the tool_use", () => {
    const request = toAnthropicRequest(thinkingConversation().snapshot());
    expect(request.messages[1]).toEqual({
      role: "assistant",
      content: [
        redacted,
        thought,
        { type: "text", text: "Let me check." },
        { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Paris" } },
      ],
    });
  });

  it("keeps them at the head when a text-only assistant message before is merged in", () => {
    const context = new LLMContext({ messages: [{ role: "assistant", content: "Hi, I am your agent." }] });
    context.setTools([getWeather]);
    context.recordToolCalls([{ id: "toolu_1", name: "get_weather", arguments: "{}" }], {
      anthropicThinking: [thought],
    });
    const assistant = toAnthropicRequest(context.snapshot()).messages[1]!;
    expect(assistant.content.map((b) => b.type)).toEqual(["thinking", "text", "tool_use"]);
  });

  it("leaves them out without tools (calls go as text), and other providers never see them", () => {
    const context = thinkingConversation();
    const snapshot = context.snapshot();
    context.setTools([]);
    expect(JSON.stringify(toAnthropicRequest(context.snapshot()))).not.toMatch(/thinking|c2ln|ZW5j/);
    for (const other of [toOpenAIRequest(snapshot), toGeminiRequest(snapshot)])
      expect(JSON.stringify(other)).not.toMatch(/thinking|c2ln|ZW5j/);
  });

  it("a message given by hand is checked: a block that is neither kind, or a field that is not a string, is refused naming it", () => {
    const call = { id: "t", type: "function" as const, function: { name: "get_weather", arguments: "{}" } };
    const bad = (anthropic: unknown) => () =>
      new LLMContext({
        messages: [
          { role: "assistant", content: null, tool_calls: [call], anthropic } as unknown as LLMMessage,
        ],
      });
    expect(bad({ thinking: [{ type: "thought", text: "x" }] })).toThrow(
      /messages\[0\]\.anthropic\.thinking\[0\]\.type must be "thinking" or "redacted_thinking"/,
    );
    expect(bad({ thinking: [{ type: "thinking", thinking: "x", signature: 7 }] })).toThrow(
      /anthropic\.thinking\[0\]\.signature must be a string \(got 7\)/,
    );
    expect(bad({ thinking: "x" })).toThrow(/anthropic\.thinking must be an array/);
    const none = new LLMContext({
      messages: [{ role: "assistant", content: null, tool_calls: [call], anthropic: { thinking: [] } }],
    });
    expect(none.messages[0]).not.toHaveProperty("anthropic");
  });
});

describe("toGeminiRequest", () => {
  it("sends systemInstruction, user/model contents, functionCall and functionResponse parts and functionDeclarations", () => {
    expect(toGeminiRequest(weatherConversation().snapshot())).toEqual({
      systemInstruction: { parts: [{ text: "You are a phone agent." }] },
      contents: [
        { role: "user", parts: [{ text: "What's the weather in Paris?" }] },
        { role: "model", parts: [{ functionCall: { name: "get_weather", args: { city: "Paris" } } }] },
        { role: "user", parts: [{ functionResponse: { name: "get_weather", response: { temp_c: 18 } } }] },
      ],
      tools: [
        {
          functionDeclarations: [
            {
              name: "get_weather",
              description: "Current weather",
              parameters: { type: "OBJECT", properties: { city: { type: "STRING" } }, required: ["city"] },
            },
          ],
        },
      ],
      toolConfig: { functionCallingConfig: { mode: "AUTO" } },
    });
  });

  it("wraps a result that is not a JSON object, and sends a call's thought signature back", () => {
    const context = new LLMContext({ messages: [{ role: "user", content: "time?" }], tools: [getWeather] });
    context.recordToolCalls([
      { id: "g1", name: "get_weather", arguments: { city: "Oslo" }, geminiThoughtSignature: "c2ln" },
    ]);
    context.recordToolResult("g1", "snow");
    context.setToolChoice({ type: "function", name: "get_weather" });
    const request = toGeminiRequest(context);
    expect(request.contents.slice(1)).toEqual([
      {
        role: "model",
        parts: [{ functionCall: { name: "get_weather", args: { city: "Oslo" } }, thoughtSignature: "c2ln" }],
      },
      { role: "user", parts: [{ functionResponse: { name: "get_weather", response: { result: "snow" } } }] },
    ]);
    expect(request.toolConfig).toEqual({
      functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["get_weather"] },
    });
    expect(toOpenAIRequest(context).messages[1]).not.toHaveProperty("tool_calls.0.gemini");
  });

  it("converts schemas to Gemini's form: upper-case types, nullable, no additionalProperties", () => {
    const tool = defineTool({
      name: "book",
      description: "Books",
      parameters: {
        type: "object",
        properties: {
          note: { anyOf: [{ type: "string" }, { type: "null" }], description: "A note" },
          seats: { type: "integer", enum: [2, 4] },
          tags: { type: "array", items: { type: "string", enum: ["a", "b"] }, maxItems: 3 },
        },
        additionalProperties: false,
      },
    });
    const [declarations] = toGeminiRequest({ messages: [], tools: [tool] }).tools ?? [];
    expect(declarations?.functionDeclarations[0]?.parameters).toEqual({
      type: "OBJECT",
      properties: {
        note: { type: "STRING", description: "A note", nullable: true },
        seats: { type: "INTEGER", description: "One of: 2, 4." },
        tags: { type: "ARRAY", items: { type: "STRING", enum: ["a", "b"] }, maxItems: "3" },
      },
    });
  });

  it("sends images and audio as inlineData or fileData", () => {
    const request = toGeminiRequest({
      messages: [
        {
          role: "user",
          content: [
            { type: "image_url", image_url: { url: "data:image/jpeg;base64,/9j/" } },
            { type: "image_url", image_url: { url: "https://example.com/a.png" } },
            { type: "input_audio", input_audio: { data: "SUQz", format: "mp3" } },
          ],
        },
      ],
    });
    expect(request.contents[0]?.parts).toEqual([
      { inlineData: { mimeType: "image/jpeg", data: "/9j/" } },
      { fileData: { fileUri: "https://example.com/a.png" } },
      { inlineData: { mimeType: "audio/mp3", data: "SUQz" } },
    ]);
  });
});
