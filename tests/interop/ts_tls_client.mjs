// The TypeScript SDK's Streamable HTTP client over HTTPS, against `mcpwire serve --tls-cert
// --tls-key`: Node trusts the test's CA through NODE_EXTRA_CA_CERTS, and fetch does the rest.
//
// Usage: NODE_EXTRA_CA_CERTS=ca.pem node ts_tls_client.mjs https://127.0.0.1:PORT/mcp

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { check, run } from './checks.mjs';

const url = process.argv[2];

await run('typescript client (sdk 1.32) over https', async () => {
  check(url.startsWith('https://') && Boolean(process.env.NODE_EXTRA_CA_CERTS),
    'the URL is https and the CA comes from NODE_EXTRA_CA_CERTS', url);
  const transport = new StreamableHTTPClientTransport(new URL(url));
  const client = new Client({ name: 'mcpwire-interop-tls', version: '1.0.0' });
  await client.connect(transport);
  check(client.getServerVersion()?.name === 'mcpwire', 'initialize over TLS names the server', client.getServerVersion());
  check(transport.protocolVersion === '2025-11-25', 'negotiates 2025-11-25', transport.protocolVersion);
  const echo = await client.callTool({ name: 'echo', arguments: { text: 'über TLS' } });
  check(echo.content?.[0]?.text === 'über TLS', 'echo returns its text over TLS', echo);
  const added = await client.callTool({ name: 'add', arguments: { a: 40, b: 2 } });
  check(added.structuredContent?.sum === 42, 'add returns structured content over TLS', added);
  await transport.terminateSession();
  await client.close();
});
