// The sign-in pages' calls to the local servers (Cognito on moto, the API Gateway), with one line
// that says which server failed, how, and what to do, within 5 seconds. Loaded by signin.html with
// <script src="netcheck.js">, and bundled into the Amplify page by frontend/src/main.js.
//
// A browser hides why a cross-origin call failed: a stopped server and a refused CORS preflight
// both reach the script as the same TypeError. So after a network error the page asks once more,
// with a "no-cors" GET that needs no preflight and whose answer it cannot read: if anything
// answers, the server is running and it was CORS that failed; if nothing answers, it is stopped.
(function (global) {
  "use strict";
  const CALL_TIMEOUT_MS = 4000; // a call without an answer by then is reported as hanging
  const PROBE_TIMEOUT_MS = 900; // the follow-up question after a network error
  const browserFetch = global.fetch.bind(global); // the browser's own, even if a page wraps fetch

  class ServerError extends Error {
    // kind: "down" (nothing answers), "cors" (the browser blocked the answer),
    // "timeout" (no answer in time), "server" (an HTTP 5xx answer).
    constructor(message, kind, status) {
      super(message);
      this.name = "ServerError";
      this.kind = kind;
      this.status = status || 0;
    }
  }

  async function answersAt(url) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), PROBE_TIMEOUT_MS);
    try {
      await browserFetch(url, { mode: "no-cors", cache: "no-store", signal: controller.signal });
      return true;
    } catch (err) {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  async function detailOf(response) {
    // Cognito's JSON error ({"__type", "message"}) or the first line of a text body.
    try {
      const text = (await response.clone().text()).trim();
      try {
        const data = JSON.parse(text);
        const type = String(data.__type || data.code || "").split("#").pop();
        const message = data.message || data.Message || "";
        if (type || message) return [type, message].filter(Boolean).join(": ");
      } catch (err) { /* not JSON */ }
      return text.split("\n")[0].slice(0, 160);
    } catch (err) {
      return "";
    }
  }

  // server: { name: "Cognito (the local moto server)", url: "http://127.0.0.1:PORT",
  //           restart: "what to do when it is not running or fails",
  //           cors: "what to do when the browser blocks its answers" }
  async function request(server, url, init) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), CALL_TIMEOUT_MS);
    const caller = init && init.signal; // a caller's own abort still aborts the call
    if (caller) caller.addEventListener("abort", () => controller.abort(), { once: true });
    const where = `${server.name} at ${server.url}`;
    let response;
    try {
      response = await browserFetch(url, { ...(init || {}), signal: controller.signal });
    } catch (err) {
      if (caller && caller.aborted) throw err;
      if (controller.signal.aborted) {
        throw new ServerError(`${where} did not answer within ${CALL_TIMEOUT_MS / 1000} s: ` +
          `it is running but stuck or overloaded. ${server.restart}`, "timeout");
      }
      if (await answersAt(url)) {
        throw new ServerError(`${where} is running, but the browser blocked the call: the server ` +
          `refused its CORS preflight or sent no CORS headers. ${server.cors}`, "cors");
      }
      throw new ServerError(`${where} is not running: nothing answers there. ${server.restart}`,
        "down");
    } finally {
      clearTimeout(timer);
    }
    if (response.status >= 500) {
      const detail = await detailOf(response);
      throw new ServerError(`${where} failed with HTTP ${response.status}` +
        (detail ? ` (${detail})` : "") + `: a server error, not your input. ${server.restart}`,
        "server", response.status);
    }
    return response;
  }

  global.AuthlabNet = { request, ServerError, CALL_TIMEOUT_MS };
})(globalThis);
