/**
 * catalogs/shadow-model-providers — model API providers that are NOT sanctioned by default
 * (seed 003's `wg-unapproved-model-providers`): presets deny them ahead of every allow so
 * a shadow-model attempt is logged under the shadow-model rule's name. Pure data.
 *
 * A provider you do sanction belongs in your own model-gateway group, and the lint refuses
 * a provider that is both denied here and allowed (seed 003's plan-time guardrail).
 */
import type { Catalog } from "./types.ts";

export const shadowModelProviders: Catalog = {
  name: "shadow-model-providers",
  version: "2026-11-21",
  description: "Model API providers not sanctioned by default (OpenAI, Anthropic, Google, Mistral, DeepSeek, ...)",
  entries: [
    { dest: "api.openai.com", source: "https://platform.openai.com/docs/api-reference" },
    { dest: "*.openai.azure.com", source: "https://learn.microsoft.com/azure/ai-services/openai/reference", note: "Azure OpenAI resource endpoints" },
    { dest: "api.anthropic.com", source: "https://docs.anthropic.com/en/api/overview" },
    { dest: "generativelanguage.googleapis.com", source: "https://ai.google.dev/api", note: "Gemini API" },
    { dest: "aiplatform.googleapis.com", source: "https://cloud.google.com/vertex-ai/docs/reference/rest", note: "Vertex AI global endpoint" },
    { dest: "api.mistral.ai", source: "https://docs.mistral.ai/api/" },
    { dest: "api.cohere.com", source: "https://docs.cohere.com/reference/about" },
    { dest: "api.cohere.ai", source: "https://docs.cohere.com/reference/about", note: "former API host" },
    { dest: "api.together.xyz", source: "https://docs.together.ai/reference" },
    { dest: "api.groq.com", source: "https://console.groq.com/docs/api-reference" },
    { dest: "api.deepseek.com", source: "https://api-docs.deepseek.com/" },
    { dest: "openrouter.ai", source: "https://openrouter.ai/docs/api-reference/overview" },
    { dest: "api.x.ai", source: "https://docs.x.ai/docs/api-reference" },
    { dest: "api.perplexity.ai", source: "https://docs.perplexity.ai/" },
    { dest: "api.fireworks.ai", source: "https://docs.fireworks.ai/api-reference/introduction" },
    { dest: "api.replicate.com", source: "https://replicate.com/docs/reference/http" },
    { dest: "api.deepinfra.com", source: "https://deepinfra.com/docs" },
    { dest: "api.ai21.com", source: "https://docs.ai21.com/reference" },
    { dest: "dashscope.aliyuncs.com", source: "https://www.alibabacloud.com/help/en/model-studio/", note: "Qwen (Alibaba Model Studio)" },
    { dest: "dashscope-intl.aliyuncs.com", source: "https://www.alibabacloud.com/help/en/model-studio/", note: "Qwen, international" },
    { dest: "api-inference.huggingface.co", source: "https://huggingface.co/docs/inference-providers/index", note: "Hugging Face serverless inference (not the Hub)" },
    { dest: "router.huggingface.co", source: "https://huggingface.co/docs/inference-providers/index", note: "Hugging Face inference providers router (not the Hub)" },
  ],
};
