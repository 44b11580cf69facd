// The MCP conformance suite's fixtures for createMcpHandler, from the shared
// `fixtures/conformance.json` (what `mcpwire serve` serves too): each tool and prompt runs its
// script of steps, and its answer is a template. fixtures/README.md defines both; this is the
// same interpreter as adapters/smol/src/bin/mcpwire/scripted.rs.

import { InputRequest, McpError } from '../js/index.js';

const KNOWN = ['log', 'progress', 'sleepMs', 'closeStream', 'listChanged', 'requireCapability', 'input', 'accepted'];
const MISSING_CLIENT_CAPABILITY = -32021;

/**
 * Tools, resources, templates, prompts and `complete` for createMcpHandler's options, from the
 * parsed fixture file. `server()` returns the handler once it exists (for list changes).
 * Throws when the file names a step it does not know or a script ends without an answer.
 */
export function conformanceOptions(fixtures, server) {
  return {
    tools: (fixtures.tools ?? []).map((tool) => {
      check(tool.run, tool.name);
      return {
        name: tool.name,
        description: tool.description,
        inputSchema: tool.inputSchema ?? { type: 'object' },
        handler: async (args, context) => {
          const answer = await script(tool.run, { args }, context, server);
          if (answer.failed !== undefined) return { content: [{ type: 'text', text: answer.failed }], isError: true };
          return answer.result;
        },
      };
    }),
    resources: (fixtures.resources ?? []).map((resource) => ({
      uri: resource.uri,
      name: resource.name,
      title: resource.title,
      description: resource.description,
      mimeType: resource.mimeType,
      read: () => (resource.blob !== undefined ? { blob: resource.blob } : { text: resource.text }),
    })),
    resourceTemplates: (fixtures.resourceTemplates ?? []).map((template) => ({
      uriTemplate: template.uriTemplate,
      name: template.name,
      description: template.description,
      mimeType: template.mimeType,
      read: (uri, variables) => fill(template.contents, { uri, variables }),
    })),
    prompts: (fixtures.prompts ?? []).map((prompt) => {
      check(prompt.run, prompt.name);
      return {
        name: prompt.name,
        title: prompt.title,
        description: prompt.description,
        arguments: prompt.arguments,
        get: async (args, context) => {
          const answer = await script(prompt.run, { args }, context, server);
          if (answer.failed !== undefined) throw new McpError(-32603, answer.failed);
          return answer.result;
        },
      };
    }),
    complete: (request) => complete(fixtures.completions ?? [], request),
  };
}

/**
 * `options` with the fixtures added: their tools, prompts and completions, and their resources
 * and templates in place of any with the same URI.
 */
export function withConformance(options, fixtures, server) {
  const served = conformanceOptions(fixtures, server);
  const uris = new Set(served.resources.map((r) => r.uri));
  const templates = new Set(served.resourceTemplates.map((t) => t.uriTemplate));
  return {
    ...options,
    tools: [...(options.tools ?? []), ...served.tools],
    resources: [...(options.resources ?? []).filter((r) => !uris.has(r.uri)), ...served.resources],
    resourceTemplates: [...(options.resourceTemplates ?? []).filter((t) => !templates.has(t.uriTemplate)), ...served.resourceTemplates],
    prompts: [...(options.prompts ?? []), ...served.prompts],
    complete: served.complete,
  };
}

/** Every step is known, and every path through a script ends in an answer or a refusal. */
function check(run, name) {
  if (!Array.isArray(run) || run.length === 0) throw new Error(`fixtures: ${name}: a script ends without a result`);
  const kindOf = (step) => {
    const keys = step !== null && typeof step === 'object' ? Object.keys(step) : [];
    if (keys.length === 0) throw new Error(`fixtures: ${name}: a step is not an object`);
    return keys[0];
  };
  for (const step of run.slice(0, -1)) {
    const kind = kindOf(step);
    if (!KNOWN.includes(kind)) throw new Error(`fixtures: ${name}: unknown step ${kind} (or not last)`);
  }
  const last = run[run.length - 1];
  const kind = kindOf(last);
  if (kind === 'result' || kind === 'fail' || kind === 'requireCapability') return;
  if (kind === 'firstDeclared') {
    for (const branch of last.firstDeclared) check(branch.run, name);
    check(last.otherwise, name);
    return;
  }
  throw new Error(KNOWN.includes(kind) ? `fixtures: ${name}: a script ends without a result` : `fixtures: ${name}: unknown step ${kind}`);
}

const sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });

function declares(context, capability) {
  const declared = context.clientCapabilities?.[capability];
  return declared !== undefined && declared !== null;
}

function inputRequest(wanted) {
  switch (wanted.method) {
    case 'elicitation/create':
      return InputRequest.elicit(wanted.params.message, wanted.params.requestedSchema);
    case 'sampling/createMessage':
      return InputRequest.sample(wanted.params);
    case 'roots/list':
      return InputRequest.listRoots();
    default:
      throw new Error(`fixture input: ${wanted.method}`);
  }
}

/** Runs `run` to its answer: `{ result }` or `{ failed }`. */
async function script(run, scope, context, server) {
  scope.inputs = {};
  const queue = [...run];
  while (queue.length > 0) {
    const step = queue.shift();
    const [kind, value] = Object.entries(step)[0];
    switch (kind) {
      case 'result':
        return { result: fill(value, scope) };
      case 'fail':
        return { failed: render(value, scope) };
      case 'sleepMs':
        await sleep(value, context.signal);
        break;
      case 'log':
        // A client that asked for no logs (or left) gets none; the call goes on.
        await context.log(value.level ?? 'info', fill(value.data, scope), value.logger).catch(() => {});
        break;
      case 'progress':
        // Without a progress token there is nobody to tell; the call still works.
        await context.progress(value.progress, value.total, value.message === undefined ? undefined : render(value.message, scope)).catch(() => false);
        break;
      case 'closeStream':
        try {
          context.closeStream();
        } catch {
          // Clients too old to resume simply get the result on the open stream.
        }
        break;
      case 'listChanged': {
        const mcp = server();
        scope.notified = value === 'tools' ? mcp.toolsListChanged() : value === 'prompts' ? mcp.promptsListChanged() : mcp.resourcesListChanged();
        break;
      }
      case 'requireCapability':
        if (!declares(context, value)) {
          throw new McpError(MISSING_CLIENT_CAPABILITY, `Missing required client capability: ${value}`, { requiredCapabilities: { [value]: {} } });
        }
        break;
      case 'input': {
        const requests = {};
        for (const [key, wanted] of Object.entries(value)) requests[key] = inputRequest(fill(wanted, scope));
        Object.assign(scope.inputs, await context.inputs(requests));
        break;
      }
      case 'accepted': {
        const action = scope.inputs[value]?.action;
        if (action !== 'accept') return { failed: `the user chose to ${JSON.stringify(action ?? null)}` };
        break;
      }
      case 'firstDeclared': {
        const branch = value.find((b) => declares(context, b.capability));
        queue.unshift(...(branch === undefined ? step.otherwise : branch.run));
        break;
      }
      default:
        throw new Error(`fixture step: ${kind}`);
    }
  }
  throw new Error('fixture: the script ended without a result');
}

/** `template` with its strings' `${...}` filled in and each `{"$json": x}` as x's JSON text. */
export function fill(template, scope) {
  if (typeof template === 'string') return render(template, scope);
  if (Array.isArray(template)) return template.map((item) => fill(item, scope));
  if (template !== null && typeof template === 'object') {
    const keys = Object.keys(template);
    if (keys.length === 1 && keys[0] === '$json') return JSON.stringify(fill(template.$json, scope));
    return Object.fromEntries(keys.map((key) => [key, fill(template[key], scope)]));
  }
  return template;
}

/** One string with its `${[json:|count:]path[?fallback]}` placeholders filled in. */
export function render(template, scope) {
  let out = '';
  let rest = template;
  for (;;) {
    const start = rest.indexOf('${');
    const end = start < 0 ? -1 : rest.indexOf('}', start);
    if (end < 0) break;
    out += rest.slice(0, start) + placeholder(rest.slice(start + 2, end), scope);
    rest = rest.slice(end + 1);
  }
  return out + rest;
}

function placeholder(expression, scope) {
  const question = expression.indexOf('?');
  const fallback = question < 0 ? undefined : expression.slice(question + 1);
  let path = question < 0 ? expression : expression.slice(0, question);
  let form = '';
  const colon = path.indexOf(':');
  if (colon >= 0 && ['json', 'count'].includes(path.slice(0, colon))) {
    form = path.slice(0, colon);
    path = path.slice(colon + 1);
  }
  const value = lookup(path, scope);
  if (form === 'json') return JSON.stringify(value ?? null);
  if (form === 'count') return String(Array.isArray(value) ? value.length : 0);
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return fallback ?? 'null';
  return fallback ?? JSON.stringify(value);
}

function lookup(path, scope) {
  const [root, ...parts] = path.split('.');
  let value = ['args', 'inputs', 'variables', 'uri', 'notified'].includes(root) ? scope[root] : undefined;
  for (const part of parts) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, part)) return undefined;
    value = value[part];
  }
  return value;
}

function complete(completions, request) {
  const ref = request.ref ?? {};
  const id = ref.type === 'ref/prompt' ? 'name' : 'uri';
  const entry = completions.find(
    (c) => c.ref.type === ref.type && c.ref[id] === ref[id] && c.arguments.includes(request.argument?.name),
  );
  const typed = request.argument?.value ?? '';
  const values = (entry?.values ?? []).filter((v) => v.startsWith(typed));
  return { values, total: values.length, hasMore: false };
}
