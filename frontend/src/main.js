// The mini project's frontend: sign in to a Cognito user pool with the AWS Amplify library v6,
// then call the notes API through the local API Gateway with the token in `Authorization`.
// Notebook 05 walks through this file. Bundled by esbuild (frontend/build.py) into
// src/authlab/cloud/static/amplify-signin.js, served at /_static/amplify-signin.js.
import { Amplify } from "aws-amplify";
import { fetchAuthSession, getCurrentUser, signIn, signOut } from "aws-amplify/auth";
import { cognitoUserPoolsTokenProvider } from "aws-amplify/auth/cognito";
import { sharedInMemoryStorage } from "aws-amplify/utils";
// One line naming the server, what failed and what to do (shared with the hand-written page).
import "../../src/authlab/cloud/static/netcheck.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const settings = {
  // the moto server; on a JupyterHub a path on this page's origin (/user/<name>/proxy/<port>/,
  // authlab.cloud.browser), resolved here into the full URL Amplify needs
  endpoint: (params.get("endpoint") ? new URL(params.get("endpoint"), location.href).href : "")
    .replace(/\/+$/, ""),
  poolId: params.get("pool_id") || "",
  clientId: params.get("client_id") || "",
  api: params.get("api") || "/notes", // GET, on this page's own origin (the gateway)
  scoped: params.get("scoped") || "/admin", // a route whose authorizer requires a scope
};

// ---- 0. the two servers this page calls, and a line for the learner when one fails -------------
const COGNITO = {
  name: "Cognito (the local moto server)",
  url: settings.endpoint,
  restart: "In notebook 05, run the first code cell again (it starts the local AWS), then open " +
    "the page from the notebook's new link.",
  cors: "Open this page from the link notebook 05 prints: its endpoint is the course's local " +
    "AWS, which answers preflights.",
};
const GATEWAY = {
  name: "The API (the local API Gateway)",
  url: location.origin,
  restart: "In notebook 05, run the cell that starts the gateway again (and read its output if " +
    "your Lambda function failed), then open the page from the notebook's new link.",
  cors: "The API and this page share one origin, so this should not happen: reload the page.",
};
let lastFailure = null; // the last ServerError, for when Amplify wraps it in an error of its own
const { AuthlabNet } = globalThis;
const browserFetch = globalThis.fetch.bind(globalThis);
// Amplify calls fetch itself: its calls to Cognito go through the same check, so that a stopped
// server, a refused preflight or a 5xx gets its own line (and no retries past 5 seconds).
globalThis.fetch = async (input, init) => {
  const url = input instanceof Request ? input.url : String(input); // a string or a URL
  if (!settings.endpoint || !url.startsWith(settings.endpoint)) return browserFetch(input, init);
  try {
    return await AuthlabNet.request(COGNITO, input, init);
  } catch (err) {
    if (err instanceof AuthlabNet.ServerError) lastFailure = err;
    throw err;
  }
};

// ---- 1. configure Amplify: the user pool, its public app client, and where Cognito is ----------
Amplify.configure({
  Auth: {
    Cognito: {
      userPoolId: settings.poolId,
      userPoolClientId: settings.clientId,
      // Local only: every Cognito call goes to the moto server. Delete this line on AWS.
      userPoolEndpoint: settings.endpoint,
    },
  },
});
// Tokens in this tab's memory, not Amplify's default localStorage (see the page's note on XSS).
cognitoUserPoolsTokenProvider.setKeyValueStorage(sharedInMemoryStorage);

// ---- local only: refresh with InitiateAuth REFRESH_TOKEN_AUTH ------------------------------------
// Amplify 6 refreshes with GetTokensFromRefreshToken, which moto 5.2 does not implement. This
// refresher makes the older InitiateAuth call instead and hands Amplify tokens in its own shape.
// On AWS, delete it: Amplify's own refresher is the default.
function decodeJwt(token) {
  const part = token.split(".")[1] || "";
  const b64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  const payload = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))));
  return { payload, toString: () => token };
}

async function cognitoCall(action, body) {
  const response = await fetch(settings.endpoint + "/", {
    method: "POST",
    headers: {
      "Content-Type": "application/x-amz-json-1.1",
      "X-Amz-Target": "AWSCognitoIdentityProviderService." + action,
    },
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(data.message || response.statusText);
    error.name = (data.__type || "UnknownError").split("#").pop();
    throw error;
  }
  return data;
}

cognitoUserPoolsTokenProvider.tokenOrchestrator.setTokenRefresher(async ({ tokens, username }) => {
  const data = await cognitoCall("InitiateAuth", {
    AuthFlow: "REFRESH_TOKEN_AUTH",
    ClientId: settings.clientId,
    AuthParameters: { REFRESH_TOKEN: tokens.refreshToken },
  });
  const result = data.AuthenticationResult;
  const accessToken = decodeJwt(result.AccessToken);
  return {
    accessToken,
    idToken: result.IdToken ? decodeJwt(result.IdToken) : undefined,
    refreshToken: result.RefreshToken || tokens.refreshToken, // Cognito keeps the same one
    clockDrift: accessToken.payload.iat * 1000 - Date.now(),
    username,
  };
});

// ---- 2. sign in, read the session, sign out: the Amplify calls a real frontend makes -----------
let tokenCount = 0; // how many access tokens this session has had (1 at sign-in, +1 per refresh)

async function doSignIn(username, password, authFlowType) {
  await signOut().catch(() => {}); // a previous session in this tab, if any, ends first
  const { isSignedIn, nextStep } = await signIn({
    username,
    password,
    // USER_SRP_AUTH is Amplify's default; the page's flow switch says why it offers both.
    options: { authFlowType },
  });
  if (!isSignedIn) {
    throw new Error(`Cognito asks for a further step (${nextStep.signInStep}), not handled here.`);
  }
  tokenCount = 1;
}

async function currentTokens(forceRefresh = false) {
  const { tokens } = await fetchAuthSession({ forceRefresh });
  return tokens || null; // undefined when signed out
}

async function doSignOut() {
  // global: true calls GlobalSignOut (the refresh token stops working); either way Amplify
  // forgets every token, even when Cognito cannot be reached.
  await signOut({ global: true });
  tokenCount = 0;
}

// ---- 3. call the API with the token in the Authorization header -------------------------------
async function callApi(path, token) {
  const response = await AuthlabNet.request(GATEWAY, path, {
    headers: { Authorization: "Bearer " + token },
  });
  const text = await response.text();
  let body = text;
  try {
    body = JSON.stringify(JSON.parse(text), null, 2);
  } catch (err) {
    /* not JSON: show it as it came */
  }
  const why = response.headers.get("www-authenticate");
  return { status: response.status, body: body + (why ? "\n\nwww-authenticate: " + why : "") };
}

function b64urlEncode(text) {
  let binary = "";
  new TextEncoder().encode(text).forEach((b) => {
    binary += String.fromCharCode(b);
  });
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function tampered(token) {
  // Edit a claim after signing, as an attacker would, and keep the old signature.
  const [header, , signature] = token.split(".");
  const claims = { ...decodeJwt(token).payload, "cognito:groups": ["admin"], username: "admin" };
  return [header, b64urlEncode(JSON.stringify(claims)), signature].join(".");
}

// ---- errors: one line each, never a blank page --------------------------------------------------
function explain(err) {
  if (err instanceof AuthlabNet.ServerError) return err.message;
  if (lastFailure) return lastFailure.message; // Amplify wrapped it in an error of its own
  const name = (err && err.name) || "Error";
  const message = (err && err.message) || String(err);
  if (name === "UserNotFoundException" && $("flow").value === "USER_SRP_AUTH") {
    return `SRP sign-in failed (${name}: ${message}). With moto this happens even for a real ` +
      "user: moto cannot finish Amplify's SRP (see the note on the flow). Choose " +
      "USER_PASSWORD_AUTH here; on AWS, SRP works.";
  }
  if (name === "NotAuthorizedException") return `Wrong username or password (${name}: ${message})`;
  if (name === "UserNotFoundException") return `No such user in this pool (${name}: ${message})`;
  if (name === "Error" || name === "EmptySignInUsername" || name === "EmptySignInPassword") {
    return message;
  }
  return `${name}: ${message}`;
}

function missingSettings() {
  const missing = [];
  if (!settings.endpoint) missing.push("endpoint");
  if (!settings.poolId) missing.push("pool_id");
  if (!settings.clientId) missing.push("client_id");
  return missing;
}

// ---- rendering: textContent only, so nothing from a token or a response is parsed as HTML ------
function span(cls, text) {
  const s = document.createElement("span");
  s.className = cls;
  s.textContent = text;
  return s;
}

function chosen(tokens) {
  return $("which-token").value === "id" ? tokens.idToken : tokens.accessToken;
}

async function render() {
  let tokens = null;
  let user = null;
  try {
    user = await getCurrentUser();
    tokens = await currentTokens();
  } catch (err) {
    tokens = null; // UserUnAuthenticatedException: nobody is signed in
  }
  const signedIn = Boolean(user && tokens);
  $("session").className = signedIn ? "in" : "out";
  for (const id of ["call-api", "call-tampered", "call-scoped", "refresh", "signout"]) {
    $(id).disabled = !signedIn;
  }
  const box = $("token");
  box.replaceChildren();
  if (!signedIn) {
    $("session").textContent = "signed out";
    box.append(span("", "none"));
    $("claims").hidden = true;
    $("claims").textContent = "";
    return;
  }
  const expires = new Date(tokens.accessToken.payload.exp * 1000).toLocaleTimeString();
  $("session").textContent =
    `signed in as ${user.username} (access token #${tokenCount}, expires ${expires})`;
  const token = chosen(tokens);
  const [h, p, s] = token.toString().split(".");
  box.append(span("jwt-header", h), span("dot", "."), span("jwt-payload", p), span("dot", "."),
    span("jwt-signature", s));
  $("claims").hidden = false;
  $("claims").textContent = JSON.stringify(token.payload, null, 2);
}

function showResult(what, status, body) {
  $("result-box").hidden = false;
  $("result-status").textContent = status === 0 ? "no answer" : String(status);
  $("result-status").className = "status-" + String(status).charAt(0);
  $("result-what").textContent = what;
  $("result").textContent = body;
}

async function run(action) {
  $("error").textContent = "";
  lastFailure = null;
  try {
    await action();
  } catch (err) {
    $("error").textContent = explain(err);
  }
  try {
    await render();
  } catch (err) {
    $("error").textContent = explain(err);
  }
}

const FLOW_NOTES = {
  USER_PASSWORD_AUTH:
    "Used here because moto cannot finish Amplify's SRP sign-in (see the other option). The " +
    "password travels to Cognito (over TLS on AWS) and Cognito checks it; the app client must " +
    "allow ALLOW_USER_PASSWORD_AUTH. On AWS, leave out authFlowType: Amplify then signs in with " +
    "SRP and the password never leaves the browser.",
  USER_SRP_AUTH:
    "Amplify's default: the browser proves it knows the password without sending it. moto 5.2 " +
    "answers the first step, then fails the proof with UserNotFoundException: it puts the user's " +
    "sub in USER_ID_FOR_SRP, Amplify answers with it as USERNAME, and moto looks users up by " +
    "name. Real Cognito completes it.",
};

function tokenName() {
  return $("which-token").value === "id" ? "ID token" : "access token";
}

// ---- wiring ------------------------------------------------------------------------------------
$("flow").addEventListener("change", () => {
  $("flow-note").textContent = FLOW_NOTES[$("flow").value];
});
$("which-token").addEventListener("change", () => run(async () => {}));
$("signin-form").addEventListener("submit", (event) => {
  event.preventDefault();
  run(async () => {
    $("result-box").hidden = true;
    if (missingSettings().length) {
      throw new Error(`This page needs ${missingSettings().join(", ")} in its address: open it from notebook 05's link.`);
    }
    await doSignIn($("username").value, $("password").value, $("flow").value);
    $("password").value = "";
  });
});
$("call-api").addEventListener("click", () => run(async () => {
  const r = await callApi(settings.api, chosen(await currentTokens()).toString());
  showResult(`GET ${settings.api} with the ${tokenName()}`, r.status, r.body);
}));
$("call-tampered").addEventListener("click", () => run(async () => {
  const r = await callApi(settings.api, tampered(chosen(await currentTokens()).toString()));
  showResult(`GET ${settings.api} with the ${tokenName()}'s claims edited (groups: admin)`,
    r.status, r.body);
}));
$("call-scoped").addEventListener("click", () => run(async () => {
  const r = await callApi(settings.scoped, chosen(await currentTokens()).toString());
  showResult(`GET ${settings.scoped} (the route requires a scope the token lacks)`, r.status, r.body);
}));
$("refresh").addEventListener("click", () => run(async () => {
  const tokens = await currentTokens(true);
  if (!tokens) throw new Error("The refresh token was refused: sign in again.");
  tokenCount += 1;
  showResult("fetchAuthSession({ forceRefresh: true })", 200,
    `new ID and access tokens (#${tokenCount}); the refresh token is unchanged`);
}));
$("signout").addEventListener("click", () => run(async () => {
  await doSignOut();
  showResult("signOut({ global: true })", 200,
    "GlobalSignOut sent and every token forgotten. An access token copied before stays valid " +
    "at the gateway until it expires.");
}));
window.addEventListener("unhandledrejection", (event) => {
  $("error").textContent = explain(event.reason);
  event.preventDefault();
});

$("flow-note").textContent = FLOW_NOTES[$("flow").value];
if (params.get("username")) $("username").value = params.get("username");
if (params.get("flow") && FLOW_NOTES[params.get("flow")]) {
  $("flow").value = params.get("flow");
  $("flow-note").textContent = FLOW_NOTES[$("flow").value];
}
if (missingSettings().length) {
  $("error").textContent =
    `This page needs ${missingSettings().join(", ")} in its address: open it from notebook 05's link.`;
}
render().catch((err) => {
  $("error").textContent = explain(err);
});
