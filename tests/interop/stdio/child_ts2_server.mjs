// A stdio MCP server of the TypeScript SDK 2.4 (@modelcontextprotocol/server): `serveStdio`,
// which serves both eras on one pipe (2026-07-28 per-request envelopes, or `initialize` and a
// session for the life of the process). Run by mcpwire's stdio client (`mcpwire call --stdio`).
// Tools: `echo {message}` answers the message; `progress {}` sends two notifications/progress
// for the request's token, then answers "done".
import * as z from 'zod/v4';
import { McpServer } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';

serveStdio(() => {
    const server = new McpServer({ name: 'child-typescript-v2', version: '1.0.0' });
    server.registerTool('echo', {
        description: 'Returns the message',
        inputSchema: z.object({ message: z.string() })
    }, async ({ message }) => ({ content: [{ type: 'text', text: message }] }));
    server.registerTool('progress', { description: 'Reports progress twice' }, async (ctx) => {
        const token = ctx.mcpReq._meta?.progressToken;
        if (token !== undefined) {
            for (const progress of [1, 2]) {
                await ctx.mcpReq.notify({
                    method: 'notifications/progress',
                    params: { progressToken: token, progress, total: 2 }
                });
            }
        }
        return { content: [{ type: 'text', text: 'done' }] };
    });
    return server;
});
