// The loader: the only script a customer's page loads. It draws the teaser button and fetches
// the full chatbox only for visitors who open it (or at once in popin mode, or when the visitor
// had it open on the previous page). It must stay tiny: every visitor of the site pays for it.
//
// CHATBOX (the content-hashed base name of the full chatbox) and TEASER_CSS are set by the build.
// The build wraps this file in a function, so its names stay out of the page's global scope.
/* global CHATBOX, TEASER_CSS */
const d = document
const script = d.currentScript
const o = script.dataset
// The servers in failover order; by default the server that served this loader.
const servers = (o.servers || new URL(script.src).origin).trim().split(/\s+/).map((u) => u.replace(/\/+$/, ''))
const fr = /^fr/i.test(o.lang || d.documentElement.lang || navigator.language)
const key = 'bascule.' + o.bot
const timeout = +o.timeout || 3000
let saved = {}
try {
  saved = JSON.parse(localStorage.getItem(key)) || {}
} catch (e) {
  // Storage disabled: the chatbox still works, it only forgets between pages.
}

const host = d.createElement('div')
host.className = 'bascule-chatbox'
if (o.color) host.style.setProperty('--bascule-accent', o.color)
// A shadow root keeps the site's CSS out of the chatbox and ours out of the site.
const root = host.attachShadow({ mode: 'open' })
root.innerHTML =
  '<button class="teaser" type="button" aria-expanded="false" aria-haspopup="dialog">' +
  '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z"/></svg>' +
  '<span></span></button><p class="status" role="status"></p>'
const [button, status] = root.children
button.lastChild.textContent = o.teaser || (fr ? 'Une question ?' : 'A question?')
const css = TEASER_CSS
try {
  // A constructed sheet is not inline style for a Content-Security-Policy.
  const sheet = new CSSStyleSheet()
  sheet.replaceSync(css)
  root.adoptedStyleSheets = [sheet]
} catch (e) {
  const style = d.createElement('style')
  style.textContent = css
  root.prepend(style)
}

// attempt loads the chatbox's script and style from one server under one name, within the
// timeout.
const attempt = (server, name) =>
  new Promise((ok, fail) => {
    const base = server + '/chatbox/' + name
    let left = 2
    const timer = setTimeout(fail, timeout)
    const done = () => --left || (clearTimeout(timer), ok())
    const link = d.createElement('link')
    const js = d.createElement('script')
    link.rel = 'stylesheet'
    link.href = base + '.css'
    js.src = base + '.js'
    link.onload = js.onload = done
    link.onerror = js.onerror = fail
    root.prepend(link)
    d.head.append(js)
  })
// load tries the servers in list order: the first one that answers serves the chatbox. The
// chatbox of this loader's release comes first; the current release of each server (under its
// stable name) is the fallback, for a server that runs another release than the one that
// served this loader (during an upgrade) or for a loader copied onto the customer's site.
const names = [CHATBOX, 'chatbox']
const load = (i = 0) =>
  attempt(servers[i % servers.length], names[(i / servers.length) | 0]).catch(() =>
    ++i < 2 * servers.length ? load(i) : Promise.reject(),
  )

let chatbox, loading
const start = () => {
  button.setAttribute('aria-busy', 'true')
  loading =
    loading ||
    load().then(
      () => {
        status.textContent = ''
        return (chatbox = window.BasculeChatbox({ root, button, o, servers, fr, key, timeout }))
      },
      () => {
        loading = 0
        status.textContent = fr
          ? 'Notre assistant est momentanément indisponible. Réessayez dans un instant.'
          : 'Our assistant is unavailable for a moment. Please try again shortly.'
      },
    )
  return loading.finally(() => button.removeAttribute('aria-busy'))
}
button.onclick = () => (chatbox ? chatbox.toggle() : start().then(() => chatbox && chatbox.toggle()))
// Popin mode loads the chatbox at once and opens it unless the visitor closed it; both modes
// reopen it on the next page when it was open. Opening this way does not move the focus: the
// visitor did not ask for it on this page.
if (o.mode == 'popin' || saved.open) start().then(() => chatbox && (o.mode != 'popin' || saved.open !== 0) && chatbox.show())

const add = () => d.body.append(host)
d.body ? add() : d.addEventListener('DOMContentLoaded', add)
