// Compiled with `tsc --strict --noEmit` by scripts/test.mjs: the declarations describe the
// module as the examples use it, and misuse does not compile.

import { createMcpHandler, InvalidToken, McpError, type McpHandler, type RequestContext, type TokenVerdict } from '../js/index.js';
import { serve } from '../js/node.js';

async function typed(): Promise<void> {
  const mcp: McpHandler = await createMcpHandler({
    name: 'typed',
    version: '1',
    tools: [
      {
        name: 'echo',
        description: 'echo',
        inputSchema: { type: 'object', properties: { text: { type: 'string' } } },
        handler: (args, context: RequestContext) => {
          context.progress(1, 2, 'half');
          context.log('info', { seen: args.text ?? null });
          if (context.signal.aborted) throw new McpError(-32000, 'gone');
          const caller: string | undefined = context.principal;
          void caller;
          return String(args.text);
        },
      },
    ],
    resources: [{ uri: 'test://a', name: 'a', read: () => ({ text: 'a' }) }],
    prompts: [{ name: 'p', get: (args) => [{ role: 'user', content: { type: 'text', text: args.x ?? '' } }] }],
    complete: () => ({ values: ['a'] }),
    timeouts: { sessionIdleMs: 1000 },
    limits: { maxBodyBytes: 1024 },
  });
  const response: Response = await mcp.fetch(new Request('http://127.0.0.1/mcp'));
  const count: number = mcp.broadcast('notifications/tools/list_changed') + mcp.resourceUpdated('test://a');
  const sessions: number = mcp.stats().sessions;
  const server = await serve(mcp, { port: 0 });
  const url: string = server.url;
  await server.close();
  await mcp.close({ graceMs: 10 });
  void [response, count, sessions, url];

  const guarded: McpHandler = await createMcpHandler({
    name: 'guarded',
    version: '1',
    auth: {
      resource: 'https://mcp.example.com/mcp',
      authorizationServers: ['https://auth.example.com'],
      requiredScopes: ['mcp'],
      toolScopes: { echo: ['mcp:echo'] },
      verify: async (token: string, signal: AbortSignal): Promise<TokenVerdict> => {
        if (signal.aborted) return null;
        if (token === 'revoked') return { refused: 'the token was revoked' };
        if (token === 'odd') throw new InvalidToken('odd');
        return { principal: 'ada', scopes: 'mcp mcp:echo', expiresAt: 1_900_000_000 };
      },
    },
    timeouts: { tokenVerificationMs: 5000, grantCacheMs: 60_000 },
    limits: { maxPendingVerifications: 64, maxTokenBytes: 4096, maxCachedGrants: 1000 },
  });
  const verifying: number = guarded.stats().verifications + guarded.stats().pendingVerifications + guarded.stats().cachedGrants;
  void verifying;
  // @ts-expect-error: a resource server needs its verifier
  await createMcpHandler({ name: 'x', version: '1', auth: { resource: 'https://h.example/mcp', authorizationServers: [] } });
  // @ts-expect-error: an expiry is given one way
  const twice: TokenVerdict = { principal: 'ada', expiresAt: 1, expiresIn: 1 };
  void twice;
  // @ts-expect-error: a tool needs a handler
  await createMcpHandler({ name: 'x', version: '1', tools: [{ name: 't', description: 'd' }] });
  // @ts-expect-error: unknown log level
  ((context: RequestContext) => context.log('loud', 1))(undefined as unknown as RequestContext);
}

void typed;
