// The transport: dydu's wire format (form-encoded requests, base64 strings inside "values") and
// Bascule's failover rules for one request.

// b64 decodes base64 of UTF-8, as every string inside "values" is. A string that is not base64
// is returned as it is rather than turned into garbage.
const b64 = (s) => {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(atob(s), (c) => c.charCodeAt(0)))
  } catch (e) {
    return s
  }
}

// decode walks "values" and decodes every string in it; numbers and booleans stay as they are.
export const decode = (v) =>
  typeof v == 'string'
    ? b64(v)
    : Array.isArray(v)
      ? v.map(decode)
      : v && typeof v == 'object'
        ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decode(x)]))
        : v

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// request sends one request to one server and resolves with the decoded values. A path is
// under the chat API (servlet/api/), or under servlet/ when it starts with /; a form is an
// object sent form-encoded, or FormData (a file) sent as multipart. It rejects on a network
// error, when the answer (body included) takes longer than timeout ms, and on any status but
// 2xx; a 429 rejects with the seconds to wait.
export const request = async (server, path, form, timeout) => {
  const abort = new AbortController()
  const timer = setTimeout(() => abort.abort(), timeout)
  try {
    const r = await fetch(server + '/servlet' + (path[0] == '/' ? '' : '/api/') + path, {
      method: form ? 'POST' : 'GET',
      body: form instanceof FormData ? form : form ? new URLSearchParams(form) : null,
      signal: abort.signal,
      cache: 'no-store',
      credentials: 'omit',
    })
    if (r.status == 429) throw { wait: Math.min(+r.headers.get('Retry-After') || 1, 30) }
    if (!r.ok) throw r.status
    const body = JSON.parse((await r.text()) || '{}')
    return body && Object.prototype.hasOwnProperty.call(body, 'values') ? decode(body.values) : body
  } finally {
    clearTimeout(timer)
    // Frees the connection of an error answer whose body nobody reads; a no-op otherwise.
    abort.abort()
  }
}

// call sends a request to the servers in list order starting at index from (wrapping round),
// each at most once, and resolves with {v: the values, i: the index of the server that
// answered}. A network error, a timeout, a 4xx or a 5xx moves on to the next server; a 429 waits
// as long as the server asks and retries the same server (a few times). It rejects when no
// server answered.
export const call = async (servers, from, path, form, timeout) => {
  for (let k = 0; k < servers.length; k++) {
    const i = (from + k) % servers.length
    for (let busy = 0; ; busy++) {
      try {
        return { v: await request(servers[i], path, form, timeout), i }
      } catch (e) {
        if (!e || !e.wait || busy > 2) break
        await sleep(e.wait * 1000)
      }
    }
  }
  const down = new Error('no server answered')
  down.name = 'Down'
  throw down
}
