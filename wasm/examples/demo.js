// The demo application of the examples: the same tools as `mcpwire serve` (echo, add, sleep
// with progress, touch_resource, announce_list_changed), `greet`, which asks the client for a
// name in either era, and a subscribable resource.

import { InputRequest } from '../js/index.js';

/** Options for createMcpHandler; `server()` returns the handler once it exists. */
export function demoOptions(server) {
  const sleep = (ms, signal) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(signal.reason);
      }, { once: true });
    });
  return {
    name: 'mcpwire-wasm-demo',
    version: '0.1.0',
    instructions: 'Demo tools (echo, add, sleep, touch_resource, announce_list_changed, greet) served by the mcpwire engine in WebAssembly.',
    tools: [
      {
        name: 'echo',
        description: 'Sends the text back',
        inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
        annotations: { readOnlyHint: true },
        handler: ({ text }) => String(text),
      },
      {
        name: 'add',
        description: 'Adds two numbers',
        inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
        outputSchema: { type: 'object', properties: { sum: { type: 'number' } }, required: ['sum'] },
        handler: ({ a, b }) => {
          const sum = Number(a) + Number(b);
          return { content: [{ type: 'text', text: String(sum) }], structuredContent: { sum } };
        },
      },
      {
        name: 'sleep',
        description: 'Sleeps, reporting progress every 100 ms; cancellable',
        inputSchema: { type: 'object', properties: { millis: { type: 'integer', minimum: 0, maximum: 600000 } }, required: ['millis'] },
        handler: async ({ millis }, context) => {
          const total = Math.min(Math.max(0, Number(millis) || 0), 600000);
          const steps = Math.max(1, Math.ceil(total / 100));
          for (let step = 1; step <= steps; step++) {
            await sleep(total / steps, context.signal);
            context.progress(step, steps, `step ${step} of ${steps}`);
          }
          return `slept ${total} ms`;
        },
      },
      {
        name: 'touch_resource',
        description: 'Tells the subscribers of a resource that it changed',
        inputSchema: { type: 'object', properties: { uri: { type: 'string' } }, required: ['uri'] },
        handler: ({ uri }) => `${server().resourceUpdated(String(uri))} subscribers notified`,
      },
      {
        name: 'announce_list_changed',
        description: 'Tells every session that a list changed',
        inputSchema: { type: 'object', properties: { list: { enum: ['tools', 'resources', 'prompts'] } }, required: ['list'] },
        handler: ({ list }) => {
          const sessions = server().broadcast(`notifications/${list}/list_changed`);
          return `${sessions} ${sessions === 1 ? 'session' : 'sessions'} notified`;
        },
      },
      {
        name: 'greet',
        description: 'Asks the client for a name (elicitation), then greets it',
        inputSchema: { type: 'object', properties: {} },
        handler: async (_args, context) => {
          // A request to the client in the session era; an input-required result in 2026-07-28.
          const answer = await context.input('name', InputRequest.elicit('Who is there?', {
            type: 'object',
            properties: { name: { type: 'string' } },
            required: ['name'],
          }));
          if (answer.action !== 'accept') return `No name (${answer.action}).`;
          return `Hello, ${answer.content?.name}!`;
        },
      },
    ],
    resources: [
      {
        uri: 'test://watched-resource',
        name: 'watched',
        description: 'A subscribable resource; touch_resource announces updates',
        mimeType: 'text/plain',
        read: () => `watched at ${new Date(0).toISOString()}`,
      },
      {
        uri: 'test://static-text',
        name: 'static-text',
        mimeType: 'text/plain',
        read: () => 'This is the content of the static text resource.',
      },
    ],
    resourceTemplates: [
      {
        uriTemplate: 'test://template/{id}/data',
        name: 'template',
        mimeType: 'application/json',
        read: (uri, { id }) => JSON.stringify({ id, templateTest: true }),
      },
    ],
    prompts: [
      {
        name: 'greeting',
        description: 'Greets someone',
        arguments: [{ name: 'name', required: true }],
        get: ({ name }) => [{ role: 'user', content: { type: 'text', text: `Say hello to ${name}` } }],
      },
    ],
  };
}
