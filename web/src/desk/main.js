// The operator desk (/router): an operator logs in, sees the dialogs waiting for them and
// those they have, with each dialog's whole history (the bot's part too), writes to visitors,
// takes, transfers and ends dialogs. The server pushes every change on one stream.
//
// When the server behind the desk fails, the desk moves to the other server of the pair (the
// page at its address, the session in the URL's fragment, which never reaches a server's
// logs) and finds the same dialogs there; when it is on the backup and the main is back, it
// moves back. The session is a token signed with the operator's key, good on both servers.
const d = document
const API = '/router/api/'
const KEY = 'bascule.desk'
const STATUSES = { available: 'Available', break: 'On break', offline: 'Offline' }
// Notices of the timeline, shown apart from what people said.
const NOTICES = /^(OperatorConnected|OperatorDisconnected|DialogTransferred|NAAutoCloseDialog|DMLiveChatLeaveQueue)/

const el = (tag, cls, text) => {
  const e = d.createElement(tag)
  if (cls) e.className = cls
  if (text != null) e.textContent = text
  return e
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const hex = (n) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => (b | 256).toString(16).slice(1)).join('')
// Message ids begin with the time, as the server's do; the same id sent twice is one message.
const orderedId = () => Date.now().toString(16).padStart(12, '0').slice(-12) + hex(10)
const minutes = (t) => Math.max(0, Math.round((Date.now() - Date.parse(t)) / 60e3))

let token = ''
let status = 'available'
let me = null
let servers = {}
let operators = []
let selected = ''
let stream = null // the AbortController of the open stream
let moving = 0
const dialogs = new Map()

// The session comes from the fragment (a desk moving from the other server) or from this
// tab's storage (a reload).
{
  const h = new URLSearchParams(location.hash.slice(1))
  if (h.get('t')) {
    token = h.get('t')
    status = STATUSES[h.get('s')] ? h.get('s') : status
    history.replaceState(null, '', location.pathname)
  } else {
    try {
      const s = JSON.parse(sessionStorage.getItem(KEY)) || {}
      token = s.token || ''
      status = STATUSES[s.status] ? s.status : status
    } catch (e) {
      // No storage: the operator logs in at each load.
    }
  }
}
const save = () => {
  try {
    sessionStorage.setItem(KEY, JSON.stringify({ token, status }))
  } catch (e) {
    // As above.
  }
}

class Unauthorized extends Error {}

const api = async (method, path, body) => {
  const r = await fetch(API + path, {
    method,
    headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : null,
    cache: 'no-store',
  })
  if (r.status == 401) throw new Unauthorized()
  if (!r.ok) {
    let msg = 'error ' + r.status
    try {
      msg = (await r.json()).error.message
    } catch (e) {
      // Not JSON: the status says enough.
    }
    throw new Error(msg)
  }
  return r.status == 204 ? null : r.json()
}

const root = d.getElementById('desk')
const note = el('p', 'note')
note.setAttribute('role', 'status')
const say = (text) => (note.textContent = text || '')

// login shows the login form.
const login = (why) => {
  if (stream) stream.abort()
  token = ''
  save()
  const f = el('form', 'login')
  f.innerHTML =
    '<h1>Operator desk</h1><label>Login <input name="login" autocomplete="username" required></label>' +
    '<label>Password <input name="password" type="password" autocomplete="current-password" required></label>' +
    '<button>Log in</button><p class="error" role="alert"></p>'
  f.querySelector('.error').textContent = why || ''
  f.onsubmit = async (e) => {
    e.preventDefault()
    const r = await fetch(API + 'login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ login: f.login.value, password: f.password.value }),
    }).catch(() => null)
    if (!r || !r.ok) {
      f.querySelector('.error').textContent =
        !r ? 'The server cannot be reached.' : r.status == 429 ? 'Too many attempts: wait a minute.' : 'Wrong login or password.'
      return
    }
    token = (await r.json()).token
    save()
    desk()
  }
  root.replaceChildren(f)
  f.login.focus()
}

// The desk's page, built once per login.
let ui
const desk = () => {
  root.innerHTML =
    '<header><h1>Operator desk</h1><span class="me"></span>' +
    '<label>Status <select class="status"></select></label><button type="button" class="logout">Log out</button></header>' +
    '<div class="cols"><nav aria-label="Dialogs"><h2>Waiting</h2><ul class="waiting"></ul><h2>My dialogs</h2><ul class="mine"></ul>' +
    '<h2 class="others-h" hidden>Other operators</h2><ul class="others"></ul><h2>Ended</h2><ul class="ended"></ul></nav>' +
    '<section class="dialog" hidden aria-live="polite"><div class="head"><h2></h2><span class="state"></span>' +
    '<button type="button" class="take">Take</button><select class="to" aria-label="Transfer to"></select>' +
    '<button type="button" class="transfer">Transfer</button><button type="button" class="end">End</button></div>' +
    '<ol class="history"></ol><p class="vtyping"></p>' +
    '<form class="composer"><textarea rows="2" aria-label="Message to the visitor"></textarea><button>Send</button></form></section></div>'
  root.prepend(note)
  const $ = (s) => root.querySelector(s)
  ui = {
    me: $('.me'),
    status: $('.status'),
    lists: { waiting: $('.waiting'), mine: $('.mine'), others: $('.others'), ended: $('.ended') },
    othersH: $('.others-h'),
    dialog: $('.dialog'),
    title: $('.dialog h2'),
    state: $('.state'),
    take: $('.take'),
    to: $('.to'),
    transfer: $('.transfer'),
    end: $('.end'),
    history: $('.history'),
    vtyping: $('.vtyping'),
    composer: $('.composer'),
    text: $('textarea'),
  }
  for (const [k, v] of Object.entries(STATUSES)) ui.status.append(new Option(v, k))
  ui.status.value = status
  ui.status.onchange = () => act(() => api('POST', 'status', { status: ui.status.value }).then(() => ((status = ui.status.value), save())))
  $('.logout').onclick = () => act(() => api('POST', 'logout').then(() => login()))
  ui.take.onclick = () => act(() => api('POST', 'dialogs/' + selected + '/take'))
  ui.end.onclick = () => act(() => api('POST', 'dialogs/' + selected + '/close'))
  ui.transfer.onclick = () => ui.to.value && act(() => api('POST', 'dialogs/' + selected + '/transfer', { to: ui.to.value }))
  let typed = 0
  ui.text.oninput = () => {
    if (Date.now() - typed < 2000 || !ui.text.value.trim()) return
    typed = Date.now()
    api('POST', 'dialogs/' + selected + '/typing', { typing: true }).catch(() => {})
  }
  ui.text.onkeydown = (e) => {
    if (e.key == 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault()
      ui.composer.requestSubmit()
    }
  }
  ui.composer.onsubmit = (e) => {
    e.preventDefault()
    const text = ui.text.value.trim()
    if (!text) return
    const id = orderedId()
    typed = 0
    // The message leaves the field once the server has it; sent again after a failure, it is
    // the same message (same id).
    act(async () => {
      await api('POST', 'dialogs/' + selected + '/messages', { id, text })
      if (ui.text.value.trim() == text) ui.text.value = ''
    })
  }
  connect()
}

// act runs a desk action and says why it failed.
const act = async (fn) => {
  try {
    say('')
    await fn()
  } catch (e) {
    if (e instanceof Unauthorized) return login('Your session has ended: log in again.')
    say(e.message == 'Failed to fetch' ? 'The server cannot be reached: try again in a moment.' : e.message)
  }
}

// follow reads the server's event stream until it ends.
const follow = async () => {
  stream = new AbortController()
  const r = await fetch(API + 'events?status=' + status, { headers: { Authorization: 'Bearer ' + token }, signal: stream.signal, cache: 'no-store' })
  if (r.status == 401) throw new Unauthorized()
  if (!r.ok) throw new Error('status ' + r.status)
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader()
  let buf = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) throw new Error('the stream ended')
    buf += value
    for (let i; (i = buf.indexOf('\n\n')) >= 0; ) {
      let event = 'message'
      let data = ''
      for (const line of buf.slice(0, i).split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7)
        else if (line.startsWith('data: ')) data += line.slice(6)
      }
      buf = buf.slice(i + 2)
      if (data) on(event, JSON.parse(data))
    }
  }
}

const reachable = (server) =>
  fetch(server + API + 'ping', { cache: 'no-store' }).then(
    (r) => r.ok,
    () => false,
  )

// move reloads the desk from the other server, with the session and the status.
const move = (server) => {
  if (moving) return
  moving = 1
  if (stream) stream.abort()
  location.href = server + '/router#t=' + encodeURIComponent(token) + '&s=' + status
}

// connect keeps the stream open: after a failure it tries this server again, then the other
// server of the pair, and goes there when it answers.
const connect = async () => {
  for (let fails = 0; !moving; ) {
    try {
      await follow()
    } catch (e) {
      if (e instanceof Unauthorized) return login('Your session has ended: log in again.')
    }
    if (moving) return
    fails++
    say('Connection to the server lost: reconnecting…')
    if (fails >= 2 && servers.peer && (await reachable(servers.peer))) return move(servers.peer)
    await sleep(Math.min(fails * 700, 5000))
  }
}

// The session is renewed while the desk is open: an idle desk's session ends, an open one's
// does not.
setInterval(() => token && ui && api('GET', 'session').then((s) => ((token = s.token), save()), () => {}), 5 * 60e3)

const on = (event, v) => {
  switch (event) {
    case 'hello':
      say('')
      me = v.operator
      status = v.status
      servers = v.servers || {}
      ui.me.textContent = me.name + (me.role == 'supervisor' ? ' (supervisor)' : '')
      ui.status.value = status
      save()
      goHome()
      break
    case 'servers':
      servers = v
      goHome()
      break
    case 'dialogs':
      dialogs.clear()
      for (const x of v) dialogs.set(x.dialogId, x)
      list()
      if (selected) open(selected)
      break
    case 'dialog':
      dialogs.set(v.dialogId, v)
      list()
      if (v.dialogId == selected) open(selected)
      break
    case 'gone':
      dialogs.delete(v.dialog)
      list()
      if (v.dialog == selected) close()
      break
    case 'typing': {
      const x = dialogs.get(v.dialog)
      if (x) {
        x.visitorTyping = v.on
        x.preview = v.preview
        x.typedAt = Date.now()
        if (v.dialog == selected) typing(x)
      }
      break
    }
    case 'operators':
      operators = v
      transferTargets()
      break
  }
}

// goHome moves the desk back to the main when it is on the backup and the main is back (new
// visitors go to the main: so must operators). It waits a little, so that the main has
// caught up with what happened here.
let homeTimer
const goHome = () => {
  clearTimeout(homeTimer)
  if (servers.preferPeer && servers.peer) homeTimer = setTimeout(async () => servers.preferPeer && (await reachable(servers.peer)) && move(servers.peer), 10e3)
}

const visitorLabel = (x) => 'Visitor ' + x.dialogId.slice(0, 6)

// list draws the dialogs in their lists.
const list = () => {
  const groups = { waiting: [], mine: [], others: [], ended: [] }
  for (const x of dialogs.values()) {
    const g =
      x.status == 'queued' ? 'waiting' : x.status == 'closed' ? 'ended' : x.operator == me.login ? 'mine' : 'others'
    groups[g].push(x)
  }
  for (const [g, xs] of Object.entries(groups)) {
    xs.sort((a, b) => Date.parse(a.queuedAt) - Date.parse(b.queuedAt))
    ui.lists[g].replaceChildren(
      ...xs.map((x) => {
        const li = el('li')
        li.dataset.id = x.dialogId
        const b = el('button', x.dialogId == selected ? 'current' : 0)
        b.type = 'button'
        b.append(el('strong', 0, visitorLabel(x)))
        const detail =
          x.status == 'queued'
            ? '#' + x.position + (x.competency ? ' · ' + x.competency : '') + ' · ' + minutes(x.queuedAt) + ' min'
            : x.status == 'assigned'
              ? x.operatorName + (x.competency ? ' · ' + x.competency : '')
              : 'ended'
        b.append(el('span', 0, detail))
        if (x.last) b.append(el('small', 0, (x.last.question || stripTags(x.last.answer)).slice(0, 60)))
        b.onclick = () => open(x.dialogId)
        li.append(b)
        return li
      }),
    )
  }
  ui.othersH.hidden = !groups.others.length
}

const stripTags = (html) => {
  const t = el('div')
  t.innerHTML = html
  return t.textContent
}

const transferTargets = () => {
  const x = dialogs.get(selected)
  const keep = ui.to.value
  ui.to.replaceChildren(new Option('Transfer to…', ''))
  for (const o of operators)
    if (o.login != (x && x.operator) && o.status == 'available' && o.active < o.capacity)
      ui.to.append(new Option(o.name + ' (' + o.active + '/' + o.capacity + ')', o.login))
  ui.to.value = keep
}

const close = () => {
  selected = ''
  ui.dialog.hidden = true
}

// open shows a dialog with its whole history.
let loading = 0
const open = async (id) => {
  const first = id != selected
  selected = id
  const n = ++loading
  let x
  try {
    x = await api('GET', 'dialogs/' + id)
  } catch (e) {
    if (e instanceof Unauthorized) return login('Your session has ended: log in again.')
    return
  }
  if (n != loading || id != selected) return
  dialogs.set(id, { ...dialogs.get(id), ...x, interactions: undefined })
  list()
  ui.dialog.hidden = false
  ui.dialog.dataset.id = id
  ui.title.textContent = visitorLabel(x) + (x.userUrl ? ' · ' + x.userUrl : '')
  ui.state.textContent =
    x.status == 'queued' ? 'waiting, #' + x.position : x.status == 'assigned' ? 'with ' + x.operatorName : 'ended'
  const mine = x.status == 'assigned' && (x.operator == me.login || me.role == 'supervisor')
  ui.take.hidden = x.status != 'queued'
  ui.end.hidden = !(mine || (x.status == 'queued' && me.role == 'supervisor'))
  ui.to.hidden = ui.transfer.hidden = !mine
  ui.composer.hidden = !mine
  transferTargets()
  drawHistory(x)
  typing(x)
  if (first && mine) ui.text.focus()
}

// drawHistory draws the dialog: the bot's part (before the hand-over), then the livechat.
const drawHistory = (x) => {
  let bot = true
  const items = []
  for (const m of x.interactions || []) {
    const cls = bot ? ' botpart' : ''
    if (m.question) items.push(line('visitor' + cls, 'Visitor', m.question, false))
    if (m.answer) {
      const op = m.from && m.from.startsWith('operator:')
      const who = NOTICES.test(m.type) ? 'notice' : op ? 'operator' : 'bot'
      items.push(line(who + cls, who == 'operator' ? operatorName(m.from.slice(9)) : who == 'bot' ? 'Bot' : '', m.answer, true))
    }
    if (m.id == x.start) bot = false
  }
  ui.history.replaceChildren(...items)
  ui.history.scrollTop = ui.history.scrollHeight
}

const operatorName = (login) => (operators.find((o) => o.login == login) || {}).name || login

const line = (cls, who, text, html) => {
  const li = el('li', cls)
  if (who) li.append(el('b', 0, who))
  const body = el('div')
  // Answers are HTML the server wrote or sanitised; visitors' words are text.
  if (html) body.innerHTML = text
  else body.textContent = text
  li.append(body)
  return li
}

let typingTimer
const typing = (x) => {
  const on = x.visitorTyping && (!x.typedAt || Date.now() - x.typedAt < 6000)
  ui.vtyping.textContent = on ? 'The visitor is typing' + (x.preview ? ': ' + x.preview : '…') : ''
  clearTimeout(typingTimer)
  if (on) typingTimer = setTimeout(() => typing({}), 6000)
}

if (token) desk()
else login()
