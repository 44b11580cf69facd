// The person's part of an authorization, for a client that is not in Node: follows the
// authorization URL through as.mjs's login and consent (no browser) and prints the URL the
// browser would have been sent back to, with its code, state and iss.
//
// Usage: node authorize.mjs AUTHORIZATION_URL REDIRECT_URI

import { followAuthorization } from './oauth.mjs';

const [url, redirectUri] = process.argv.slice(2);
try {
  console.log(String(await followAuthorization(url, redirectUri)));
} catch (error) {
  console.error(String(error?.message ?? error));
  process.exit(1);
}
