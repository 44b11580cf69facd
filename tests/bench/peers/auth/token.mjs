// Mints a JWT access token from the authorization server (tests/auth/as.mjs) by client
// credentials, as a machine client would: for RESOURCE (its audience), scope `mcp`.
//
// Usage: node token.mjs AS_URL RESOURCE   (prints the token)
import { clientCredentials } from '../../../auth/oauth.mjs';

const [asUrl, resource] = process.argv.slice(2);
const { access_token: token } = await clientCredentials(asUrl, 'alice-service', 'mcp', resource);
process.stdout.write(`${token}\n`);
