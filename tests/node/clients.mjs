// Node/TypeScript clients against a running gateway, driven by tests/e2e/test_node_clients.py.
// `node clients.mjs CLIENT` prints one JSON array: per feature {feature, ok, text, usage,
// toolCall, status, errorName, error}. Settings come from GATEWAY_URL and the *_KEY variables.
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import { createAnthropic } from "@ai-sdk/anthropic";
import { createGoogleGenerativeAI } from "@ai-sdk/google";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, jsonSchema, stepCountIs, streamText, tool } from "ai";
import OpenAI from "openai";

const url = process.env.GATEWAY_URL;
const env = (name) => process.env[name];
const MODEL = "m1";
const TOOL_PROMPT = 'tool: add {"a": 2, "b": 3}';
const addSchema = {
  type: "object",
  properties: { a: { type: "integer" }, b: { type: "integer" } },
  required: ["a", "b"],
};

async function refusal(run) {
  try {
    await run();
    return { ok: false, error: "no error raised" };
  } catch (error) {
    const status = error.status ?? error.statusCode ?? error.code;
    return { ok: status === 402, status, errorName: error.constructor.name, error: String(error.message).slice(0, 300) };
  }
}

// --- official SDKs ------------------------------------------------------------------------

function openaiSdk(key) {
  return new OpenAI({ baseURL: url + "/v1", apiKey: key, maxRetries: 0 });
}

const openaiCases = {
  async plain(key = env("OPENAI_KEY")) {
    const r = await openaiSdk(key).chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "hi" }] });
    return { text: r.choices[0].message.content, usage: [r.usage.prompt_tokens, r.usage.completion_tokens] };
  },
  async stream() {
    const s = await openaiSdk(env("OPENAI_KEY")).chat.completions.create({
      model: MODEL, messages: [{ role: "user", content: "echo: one two three" }], stream: true,
      stream_options: { include_usage: true },
    });
    let text = ""; let usage = null;
    for await (const c of s) {
      if (c.choices[0]?.delta?.content) text += c.choices[0].delta.content;
      if (c.usage) usage = [c.usage.prompt_tokens, c.usage.completion_tokens];
    }
    return { text, usage };
  },
  async "tool calls"() {
    const r = await openaiSdk(env("OPENAI_KEY")).chat.completions.create({
      model: MODEL, messages: [{ role: "user", content: TOOL_PROMPT }], parallel_tool_calls: true,
      tools: [{ type: "function", function: { name: "add", parameters: addSchema } }],
    });
    const call = r.choices[0].message.tool_calls[0].function;
    return { toolCall: [call.name, JSON.parse(call.arguments)], usage: [r.usage.prompt_tokens, r.usage.completion_tokens] };
  },
  "budget refusal": () => refusal(() => openaiCases.plain(env("POOR_KEY"))),
  "cross-provider fallback": () => openaiCases.plain(env("FALLBACK_OPENAI_KEY")),
};

function anthropicSdk(key) {
  return new Anthropic({ baseURL: url + "/anthropic", apiKey: key, maxRetries: 0 });
}

const anthropicCases = {
  async plain(key = env("ANTHROPIC_KEY")) {
    const r = await anthropicSdk(key).messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: "user", content: "hi" }] });
    return { text: r.content[0].text, usage: [r.usage.input_tokens, r.usage.output_tokens] };
  },
  async stream() {
    const s = anthropicSdk(env("ANTHROPIC_KEY")).messages.stream({
      model: MODEL, max_tokens: 64, messages: [{ role: "user", content: "echo: one two three" }],
    });
    let text = "";
    s.on("text", (t) => { text += t; });
    const m = await s.finalMessage();
    return { text, usage: [m.usage.input_tokens, m.usage.output_tokens] };
  },
  async "tool calls"() {
    const r = await anthropicSdk(env("ANTHROPIC_KEY")).messages.create({
      model: MODEL, max_tokens: 64, messages: [{ role: "user", content: TOOL_PROMPT }],
      tools: [{ name: "add", input_schema: addSchema }],
    });
    const use = r.content.find((b) => b.type === "tool_use");
    return { toolCall: [use.name, use.input], usage: [r.usage.input_tokens, r.usage.output_tokens] };
  },
  "budget refusal": () => refusal(() => anthropicCases.plain(env("POOR_KEY"))),
  "cross-provider fallback": () => anthropicCases.plain(env("FALLBACK_ANTHROPIC_KEY")),
};

function genaiSdk(key) {
  return new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: url + "/genai" } });
}

const genaiUsage = (u) => [u.promptTokenCount, u.candidatesTokenCount];

const genaiCases = {
  async plain(key = env("GEMINI_KEY")) {
    const r = await genaiSdk(key).models.generateContent({ model: MODEL, contents: "hi" });
    return { text: r.text, usage: genaiUsage(r.usageMetadata) };
  },
  async stream() {
    const s = await genaiSdk(env("GEMINI_KEY")).models.generateContentStream({ model: MODEL, contents: "echo: one two three" });
    let text = ""; let usage = null;
    for await (const c of s) { text += c.text ?? ""; if (c.usageMetadata) usage = genaiUsage(c.usageMetadata); }
    return { text, usage };
  },
  async "tool calls"() {
    const r = await genaiSdk(env("GEMINI_KEY")).models.generateContent({
      model: MODEL, contents: TOOL_PROMPT,
      config: { tools: [{ functionDeclarations: [{ name: "add", parametersJsonSchema: addSchema }] }] },
    });
    const call = r.functionCalls[0];
    return { toolCall: [call.name, call.args], usage: genaiUsage(r.usageMetadata) };
  },
  "budget refusal": () => refusal(() => genaiCases.plain(env("POOR_KEY"))),
  "cross-provider fallback": () => genaiCases.plain(env("FALLBACK_GEMINI_KEY")),
};

// --- Vercel AI SDK ------------------------------------------------------------------------

const providers = {
  openai: (key) => createOpenAI({ baseURL: url + "/v1", apiKey: key }).chat(MODEL),
  anthropic: (key) => createAnthropic({ baseURL: url + "/anthropic/v1", apiKey: key })(MODEL),
  google: (key) => createGoogleGenerativeAI({ baseURL: url + "/genai/v1beta", apiKey: key })(MODEL),
};
const keyOf = { openai: "OPENAI_KEY", anthropic: "ANTHROPIC_KEY", google: "GEMINI_KEY" };
const fallbackOf = { openai: "FALLBACK_OPENAI_KEY", anthropic: "FALLBACK_ANTHROPIC_KEY", google: "FALLBACK_GEMINI_KEY" };
const sdkUsage = (u) => [u.inputTokens, u.outputTokens];

function aiSdkCases(name) {
  const model = (key = env(keyOf[name])) => providers[name](key);
  const cases = {
    async generateText(key) {
      const r = await generateText({ model: model(key), prompt: "hi", maxRetries: 0 });
      return { text: r.text, usage: sdkUsage(r.usage) };
    },
    async streamText() {
      const r = streamText({ model: model(), prompt: "echo: one two three", maxRetries: 0 });
      let text = "";
      for await (const t of r.textStream) text += t;
      return { text, usage: sdkUsage(await r.usage) };
    },
    async "tool calls"() {
      const seen = [];
      const add = tool({
        description: "Add two integers.",
        inputSchema: jsonSchema(addSchema),
        execute: async ({ a, b }) => { seen.push([a, b]); return a + b; },
      });
      const r = await generateText({
        model: model(), prompt: TOOL_PROMPT, tools: { add }, stopWhen: stepCountIs(3), maxRetries: 0,
      });
      return { text: r.text, toolCall: ["add", { a: seen[0][0], b: seen[0][1] }], usage: sdkUsage(r.totalUsage), steps: r.steps.length };
    },
    "budget refusal": () => refusal(() => cases.generateText(env("POOR_KEY"))),
    "cross-provider fallback": () => cases.generateText(env(fallbackOf[name])),
  };
  return cases;
}

// The provider's default model (`openai(model)`) speaks the Responses API.
async function responsesText(stream) {
  const model = createOpenAI({ baseURL: url + "/v1", apiKey: env("OPENAI_KEY") })(MODEL);
  if (!stream) {
    const r = await generateText({ model, prompt: "hi", maxRetries: 0 });
    return { text: r.text, usage: sdkUsage(r.usage) };
  }
  const r = streamText({ model, prompt: "echo: one two three", maxRetries: 0 });
  let text = "";
  for await (const t of r.textStream) text += t;
  return { text, usage: sdkUsage(await r.usage) };
}

const clients = {
  openai: openaiCases,
  "@anthropic-ai/sdk": anthropicCases,
  "@google/genai": genaiCases,
  "@ai-sdk/openai": {
    ...aiSdkCases("openai"),
    "generateText (Responses API)": () => responsesText(false),
    "streamText (Responses API)": () => responsesText(true),
  },
  "@ai-sdk/anthropic": aiSdkCases("anthropic"),
  "@ai-sdk/google": aiSdkCases("google"),
};

const cases = clients[process.argv[2]];
if (!cases) {
  console.error(`unknown client ${process.argv[2]}; one of ${Object.keys(clients).join(", ")}`);
  process.exit(2);
}
const results = [];
for (const [feature, run] of Object.entries(cases)) {
  try {
    results.push({ feature, ok: true, ...(await run()) });
  } catch (error) {
    results.push({ feature, ok: false, errorName: error.constructor.name, error: String(error.stack ?? error).slice(0, 800) });
  }
}
process.stdout.write(JSON.stringify(results) + "\n");
