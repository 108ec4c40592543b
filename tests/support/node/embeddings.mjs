// The Node SDK's default embeddings call (it asks for base64 and decodes it itself).
// Usage: GATEWAY_URL=http://.../v1 GATEWAY_KEY=... node embeddings.mjs MODEL INPUT...
import OpenAI from "openai";

const [model, ...input] = process.argv.slice(2);
const client = new OpenAI({
  baseURL: process.env.GATEWAY_URL,
  apiKey: process.env.GATEWAY_KEY ?? "none",
  maxRetries: 0,
});
const answer = await client.embeddings.create({ model, input });
console.log(JSON.stringify(answer.data.map((item) => item.embedding)));
