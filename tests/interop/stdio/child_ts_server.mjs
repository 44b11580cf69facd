// A stdio MCP server of the TypeScript SDK 1.32 (@modelcontextprotocol/sdk): `McpServer` over
// `StdioServerTransport`, session era only, as the SDK's README has it. Run by mcpwire's stdio
// client (`mcpwire call --stdio`). Tools: `echo {message}` answers the message; `progress {}`
// sends two notifications/progress for the request's token, then answers "done".
import * as z from 'zod/v4';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';

const server = new McpServer({ name: 'child-typescript', version: '1.0.0' });
server.registerTool('echo', {
    description: 'Returns the message',
    inputSchema: { message: z.string() }
}, async ({ message }) => ({ content: [{ type: 'text', text: message }] }));
server.registerTool('progress', { description: 'Reports progress twice' }, async (extra) => {
    const token = extra._meta?.progressToken;
    if (token !== undefined) {
        for (const progress of [1, 2]) {
            await extra.sendNotification({
                method: 'notifications/progress',
                params: { progressToken: token, progress, total: 2 }
            });
        }
    }
    return { content: [{ type: 'text', text: 'done' }] };
});
await server.connect(new StdioServerTransport());
