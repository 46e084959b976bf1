// The full chatbox: the dialog, its failover rules and its accessible UI. The loader fetches
// this file when the visitor opens the chatbox and calls window.BasculeChatbox to mount it in
// the shadow root it drew the teaser in.
import { call, request } from './api.js'
import words from './labels.js'
import following from './live.js'

// The server archives a dialog after 10 minutes without a question (dialogs.idle); past that,
// the chatbox asks whether its dialog is still open before it sends a question.
const IDLE = 10 * 60e3
// A server check made while the visitor typed says nothing about the server after this long.
const CHECK_AGE = 30e3

const hex = (bytes) =>
  Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => (b | 256).toString(16).slice(1)).join('')

// Interaction ids begin with the time, as the server's do: ids made one after the other sort
// together, so the server's indexes grow at their end instead of at random pages.
const orderedId = () => Date.now().toString(16).padStart(12, '0').slice(-12) + hex(10)

const el = (tag, cls, text) => {
  const e = document.createElement(tag)
  if (cls) e.className = cls
  if (text != null) e.textContent = text
  return e
}

const mount = ({ root, button, o, servers, fr, key, timeout }) => {
  const L = words(fr)
  const lang = fr ? 'fr' : 'en'
  const bot = o.bot
  const space = o.space || 'Defaut'
  // A question may take the whole timeout (3 s by default); anything else gets two thirds of it.
  const quick = Math.round((timeout * 2) / 3)

  // The state kept per bot in localStorage, so that the dialog follows the visitor from page to
  // page: ctx (the dialog), server (where the dialog runs: it stays there until it ends), last
  // (time of the last answer), welcome and top (the opening of the dialog, which the server's
  // history leaves out), queue (questions not answered yet), client, visit, open.
  let st = {}
  try {
    st = JSON.parse(localStorage.getItem(key)) || {}
  } catch (e) {
    // No storage: the dialog lasts as long as the page.
  }
  const save = () => {
    try {
      localStorage.setItem(key, JSON.stringify(st))
    } catch (e) {
      // As above.
    }
  }
  st.client = st.client || hex(8).slice(1)
  st.queue = st.queue || []

  const panel = el('section', 'panel')
  panel.id = 'panel'
  panel.hidden = true
  panel.setAttribute('role', 'dialog')
  panel.setAttribute('aria-labelledby', 'title')
  panel.innerHTML =
    '<header><h2 id="title"></h2><button type="button" class="fresh"></button>' +
    '<button type="button" class="close"><svg viewBox="0 0 24 24" aria-hidden="true"><path d="M6 6l12 12M18 6 6 18"/></svg></button></header>' +
    '<div class="log"><div></div></div><p class="writing" hidden aria-hidden="true"><i></i><i></i><i></i></p>' +
    '<p class="notice" role="status"></p><p class="sr" aria-live="polite"></p>' +
    '<form><button type="button" class="attach" hidden><svg viewBox="0 0 24 24" aria-hidden="true"><path d="M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5"/></svg></button>' +
    '<input type="file" hidden><textarea rows="1" enterkeyhint="send"></textarea>' +
    '<button class="send"><svg viewBox="0 0 24 24" aria-hidden="true"><path d="M3 20l18-8L3 4v6l12 2-12 2z"/></svg></button></form>'
  const $ = (s) => panel.querySelector(s)
  const log = $('.log')
  const past = log.firstChild // the restored part of the dialog, above the new messages
  const writing = $('.writing')
  const notice = $('.notice')
  const live = $('[aria-live]')
  const input = $('textarea')
  $('h2').textContent = o.title || L.title
  $('.fresh').textContent = L.fresh
  $('.close').setAttribute('aria-label', L.close)
  $('.send').setAttribute('aria-label', L.send)
  const attach = $('.attach')
  const file = $('[type=file]')
  attach.setAttribute('aria-label', L.attach)
  input.setAttribute('aria-label', L.question)
  input.placeholder = L.placeholder
  log.setAttribute('role', 'region')
  log.setAttribute('aria-label', o.title || L.title)
  button.setAttribute('aria-controls', 'panel')
  root.append(panel)

  const scroll = () => (log.scrollTop = log.scrollHeight)
  const say = (who, node, into = log) => {
    const m = el('div', 'msg ' + who)
    m.append(el('span', 'sr', who == 'user' ? L.you : L.bot), node)
    into.append(m)
    scroll()
  }
  // The visitor's words are text, never HTML.
  const userSays = (text, into) => say('user', el('span', 0, text), into)
  const btn = (text, onclick, label) => {
    const b = el('button', 0, text)
    b.type = 'button'
    b.onclick = onclick
    if (label) b.setAttribute('aria-label', label)
    return b
  }
  const choices = (list, into = log) => {
    const g = el('div', 'choices')
    for (const q of list)
      g.append(
        btn(q, () => {
          ask(q)
          input.focus()
        }),
      )
    into.append(g)
    scroll()
  }

  // side sends a request whose failure the visitor need not hear about (feedback, visit).
  const side = (path, form) => call(servers, dialogIndex(), path, form, quick).catch(() => {})

  const feedback = (w) => {
    const g = el('div', 'feedback', L.helpful + ' ')
    g.setAttribute('role', 'group')
    const done = (text) => {
      g.replaceChildren(el('span', 0, text || L.thanks))
      input.focus()
    }
    const vote = (v) => () => {
      side('chat/feedback/' + bot, { contextUUID: st.ctx, feedBack: v, solutionUsed: 'ASSISTANT' })
      if (v == 'positive' || !w.choice0) return done(w.commentEnd)
      g.replaceChildren(el('span', 0, (w.choiceIntroduction || '') + ' '))
      ;[w.choice0, w.choice1, w.choice2].forEach(
        (c, k) =>
          c &&
          g.append(
            btn(c, () => {
              side('chat/feedback/insatisfaction/' + bot, { choiceKey: k, contextUUID: st.ctx, solutionUsed: 'ASSISTANT' })
              done(w.commentEnd)
            }),
          ),
      )
      g.querySelector('button').focus()
    }
    g.append(btn('👍', vote('positive'), L.yes), btn('👎', vote('negative'), L.no))
    log.append(g)
    scroll()
  }

  // answer shows a bot answer: the sanitised HTML the server sends, its reword suggestions as
  // buttons (from values.rewords, or from the answer's list when it comes from the history) and
  // the feedback thumbs when the server asks for them.
  const answer = (v, into = log, announce) => {
    if (!v.text) return
    const body = el('div')
    body.innerHTML = v.text
    const list = body.querySelector('.bascule-rewords')
    const rewords = v.rewords || (list ? [...list.children].map((li) => li.textContent) : [])
    if (list && rewords.length) list.remove()
    say('bot', body, into)
    if (rewords.length) choices(rewords, into)
    if (v.askFeedback) feedback(v.feedbackWording || {})
    if (announce) live.textContent = L.bot + ' ' + body.textContent
  }

  // The dialog's server: requests about the dialog start there, and move on to the next server
  // of the list only when it fails.
  const dialogIndex = () => Math.max(0, servers.indexOf(st.server))
  let writingFor
  // The livechat, once the bot hands the dialog over: the operator's words (in a bubble with
  // the operator's name), notices, and the operator typing.
  const person = {
    typing: () => {
      writing.hidden = false
      clearTimeout(writingFor)
      writingFor = setTimeout(() => (writing.hidden = true), 6000)
    },
    say: (v, into = log) => {
      writing.hidden = true
      const body = el('div')
      body.innerHTML = v.text
      const m = el('div', v.fromDetail ? 'msg bot op' : 'msg note')
      if (v.fromDetail) m.append(el('b', 0, v.fromDetail))
      m.append(body)
      into.append(m)
      scroll()
      if (into == log) live.textContent = (v.fromDetail || '') + ' ' + body.textContent
    },
  }
  const lc = following({ st, save, servers, bot, dialogIndex, show: person })
  const forget = () => {
    lc.stop()
    st.ctx = st.server = st.welcome = st.top = null
    save()
  }
  const talkForm = (text, id, quiet) => {
    const f = {
      userInput: text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'),
      language: lang,
      space,
      clientId: st.client,
      alreadyCame: !!st.came,
      solutionUsed: 'ASSISTANT',
      qualificationMode: false,
      userUrl: location.href,
      variables: '{}',
    }
    // The same id on every server: a question sent again after a failure is one interaction.
    if (id) f.interactionId = id
    if (quiet) f.doNotRegisterInteraction = true
    // In a livechat, the visitor's words go to the operator, who answers on the channel.
    if (st.live) f.mode = 'cG9sbGluZw=='
    return f
  }
  // The file button shows when the server says the bot takes files (in every talk answer).
  const offer = () => (attach.hidden = !st.uploads)
  // talk sends a talk from server index from on. The server that answers holds the dialog from
  // then on; when it did not know the dialog, it answers with a new context, which is adopted.
  const talk = async (text, id, from, quiet) => {
    const { v, i } = await call(servers, from, 'chat/talk/' + bot + (st.ctx ? '/' + st.ctx : ''), talkForm(text, id, quiet), timeout)
    if (v.contextId) {
      st.ctx = v.contextId
      st.server = servers[i]
    }
    st.last = Date.now()
    st.came = 1
    st.uploads = v.uploads
    offer()
    save()
    if (!st.live && /^Start(Polling|WaitingQueue)$/.test(v.specialAction)) lc.start(v)
    if (v.specialAction == 'LeaveWaitingQueue') lc.stop()
    return v
  }

  // A new dialog starts on the first server of the list that answers.
  const welcome = async () => {
    const v = await talk('#welcome#', 0, 0, true)
    st.welcome = v.text
    st.top = []
    try {
      const t = await call(servers, dialogIndex(), 'chat/topknowledge/' + bot,
        { language: lang, maxKnowledge: 3, period: 'Last30Days', space, solutionUsed: 'ASSISTANT' }, quick)
      st.top = JSON.parse(t.v.knowledgeArticles || '[]').map((a) => a.reword)
    } catch (e) {
      // The welcome is enough to start.
    }
    save()
    past.replaceChildren()
    answer(v, past, true)
    if (st.top.length) choices(st.top, past)
  }

  // restore shows the dialog in progress (after a move to another page of the site) or, when it
  // has ended, starts a new one.
  const restore = async () => {
    if (!st.visit) {
      side('chat/welcomecall/' + bot, { contextUuid: '', language: lang, qualificationMode: false, solutionUsed: 'ASSISTANT', space, variables: '{}', clientId: st.client })
      st.visit = 1
    }
    if (st.ctx) {
      const a = await call(servers, dialogIndex(), 'chat/availablecontext/' + bot + '/' + st.ctx, {}, quick)
      if (a.v.isContextStillAvailable) {
        const h = await call(servers, a.i, 'chat/history/' + bot, { contextUuid: st.ctx, solutionUsed: 'ASSISTANT' }, quick)
        st.server = servers[h.i]
        save()
        past.replaceChildren()
        answer({ text: st.welcome }, past)
        if (st.top && st.top.length) choices(st.top, past)
        for (const x of h.v.interactions || []) {
          if (x.user && !x.hideRequest) userSays(x.user, past)
          if (x.operatorName && x.type == 'OPRegularOperatorAnswer') person.say({ text: x.text, fromDetail: x.operatorName }, past)
          else answer({ text: x.text }, past)
        }
        lc.follow()
        return
      }
      forget()
    }
    await welcome()
  }

  // The server check made when the visitor starts typing, so that a server that is down is
  // known before the question is sent.
  let check
  const send = async (q) => {
    if (st.ctx && Date.now() - st.last > IDLE) {
      const a = await call(servers, dialogIndex(), 'chat/availablecontext/' + bot + '/' + st.ctx, {}, quick)
      if (!a.v.isContextStillAvailable) forget()
    }
    let from = dialogIndex()
    if (check && check.i == from && Date.now() - check.at < CHECK_AGE && !(await check.ok)) from = (from + 1) % servers.length
    check = 0
    answer(await talk(q.text, q.id, from), log, true)
  }

  // The work that needs a server, in order: steps (restore, new dialog) first, then the
  // visitor's questions. When no server answers, the visitor is told once, the work is kept (the
  // questions in localStorage too) and tried again with backoff until a server answers.
  const steps = []
  let running
  let wake = () => {}
  const run = async () => {
    if (running) return
    running = 1
    for (let wait = 1000; steps.length || st.queue.length; ) {
      const question = !steps.length
      writing.hidden = !question
      try {
        await (question ? send(st.queue[0]) : steps[0]())
        notice.textContent = ''
        wait = 1000
      } catch (e) {
        if (!e || e.name != 'Down') {
          // A bug, not an outage: retrying would not help.
          console.error(e)
        } else {
          writing.hidden = true
          notice.textContent = L.down
          await new Promise((r) => setTimeout((wake = r), wait))
          wait = Math.min(wait * 2, 8000)
          continue
        }
      }
      question ? st.queue.shift() : steps.shift()
      save()
    }
    writing.hidden = true
    running = 0
  }
  addEventListener('online', () => wake())

  const ask = (text) => {
    text = text.trim()
    if (!text) return
    st.queue.push({ text, id: orderedId() })
    save()
    userSays(text)
    wake()
    run()
  }

  let typing
  // The field grows with the question (up to its CSS max-height), borders included.
  const resize = () => {
    input.style.height = ''
    if (input.value) input.style.height = input.scrollHeight + input.offsetHeight - input.clientHeight + 'px'
  }
  input.oninput = () => {
    const has = !!input.value.trim()
    lc.typing(input.value)
    if (has && !typing && servers.length > 1) {
      const i = dialogIndex()
      // A 429 means the server is up and busy: the question will wait for it, not leave it.
      const ok = request(servers[i], 'serverstatus', 0, quick).then(() => 1, (e) => (e && e.wait ? 1 : 0))
      check = { i, at: Date.now(), ok }
    }
    typing = has
    resize()
  }
  const submit = () => {
    ask(input.value)
    input.value = ''
    typing = 0
    resize()
  }
  $('form').onsubmit = (e) => {
    e.preventDefault()
    submit()
    input.focus()
  }
  input.onkeydown = (e) => {
    if (e.key == 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault()
      submit()
    }
  }
  // A file goes to the dialog's server (the servlet fileupload), which scans it before it keeps
  // it; its answer, accepted or not, is said in the dialog.
  attach.onclick = () => file.click()
  file.onchange = async () => {
    const f = file.files[0]
    file.value = ''
    if (!f || !st.ctx) return
    userSays('📎 ' + f.name)
    const form = new FormData()
    form.append('dydu-upload-file', f, f.name)
    writing.hidden = false
    let said = L.unsent
    try {
      // A file may take long to arrive and to scan: ten times a question's timeout.
      said = (await call(servers, dialogIndex(), '/fileupload?ctx=' + st.ctx, form, timeout * 10)).v.params.message || said
    } catch (e) {
      // No server took it: the visitor is told so below.
    }
    writing.hidden = true
    say('bot', el('span', 0, said))
    live.textContent = L.bot + ' ' + said
  }
  $('.fresh').onclick = () => {
    past.replaceChildren()
    log.replaceChildren(past)
    steps.push(async () => {
      if (st.ctx) {
        await request(servers[dialogIndex()], 'chat/talk/' + bot + '/' + st.ctx, talkForm('#reset#', 0, 1), quick).catch(() => {})
        forget()
      }
      await welcome()
    })
    wake()
    run()
    input.focus()
  }

  let booted
  const show = (focus) => {
    panel.hidden = false
    button.setAttribute('aria-expanded', 'true')
    st.open = 1
    save()
    if (!booted) {
      booted = 1
      offer()
      for (const q of st.queue) userSays(q.text)
      steps.push(restore)
      run()
    }
    if (focus) input.focus()
    scroll()
  }
  const hide = () => {
    panel.hidden = true
    button.setAttribute('aria-expanded', 'false')
    st.open = 0
    save()
    button.focus()
  }
  $('.close').onclick = hide
  root.addEventListener('keydown', (e) => e.key == 'Escape' && !panel.hidden && hide())
  return { show: () => show(), toggle: () => (panel.hidden ? show(1) : hide()) }
}

// A chatbox script that arrives late from a slow server must not mount a second chatbox.
window.BasculeChatbox = window.BasculeChatbox || mount
