// The livechat: once the bot hands the dialog over to a person, the chatbox follows what the
// operator says on a push channel (server-sent events) from the dialog's server, or polls
// (dydu's chat/poll/last) where the browser has no EventSource. When that server fails, it
// moves to the next one, which holds the same dialog (the servers replicate it), and carries
// on from the last thing it showed: st.live.cursor.
import { request, decode, sleep } from './api.js'

// POLL is the polling interval (dydu's chatbox polls every 2.5 s).
const POLL = 2500

export default ({ st, save, servers, bot, dialogIndex, show }) => {
  let es
  let gen = 0
  let typed = 0
  let typingLater

  const url = (path) => servers[dialogIndex()] + '/servlet/api/' + path

  // handle shows one answer of the livechat: the operator's words, a notice, typing, the queue.
  const handle = (v) => {
    if (!st.live) return
    if (v.pollUpdatedInteractionDate > st.live.cursor) st.live.cursor = v.pollUpdatedInteractionDate
    save()
    if (v.code == 'OperatorWritingStatus') show.typing()
    else if (v.text) show.say(v)
    if (v.specialAction == 'EndPolling' || v.specialAction == 'LeaveWaitingQueue') stop()
  }

  // moved checks the dialog's server after a failure of the channel: when it does not answer,
  // the dialog goes on from the next server of the list.
  const moved = async () => {
    try {
      await request(servers[dialogIndex()], 'serverstatus', 0, 3000)
    } catch (e) {
      st.server = servers[(dialogIndex() + 1) % servers.length]
      save()
    }
  }

  const poll = async (g) => {
    while (g == gen && st.live) {
      try {
        const v = await request(servers[dialogIndex()], 'chat/poll/last/' + bot,
          { solutionUsed: 'LIVECHAT', format: 'JSon', contextUuid: st.ctx, lastPoll: st.live.cursor }, 5000)
        // Poll answers are made for the dydu chatbox, which decodes them twice: a name it would
        // garble comes with a zero-width space, which we do not need.
        if (v && v.fromDetail) v.fromDetail = v.fromDetail.replace(/\u200b$/, '')
        if (g == gen && v && Object.keys(v).length) handle(v)
      } catch (e) {
        await moved()
      }
      await sleep(POLL)
    }
  }

  // follow (re)opens the channel from the cursor.
  const follow = () => {
    close()
    if (!st.live || !st.ctx) return
    const g = ++gen
    if (!window.EventSource) return poll(g)
    es = new EventSource(url('chat/events/' + bot + '/' + st.ctx + '?after=' + st.live.cursor))
    es.onmessage = (m) => handle(decode(JSON.parse(m.data).values))
    es.onerror = async () => {
      close()
      const h = gen // a newer follow or a stop supersedes this retry
      await sleep(1000)
      if (h != gen) return
      await moved()
      if (h == gen) follow()
    }
  }

  const close = () => {
    gen++
    if (es) es.close()
    es = 0
  }

  const stop = () => {
    close()
    st.live = null
    save()
  }

  return {
    // start follows a hand-over from the talk answer that started it (serverTime is the cursor).
    start: (v) => {
      st.live = { cursor: v.serverTime || 0 }
      save()
      follow()
    },
    follow,
    stop,
    // typing tells the operator that the visitor types, and what: at most every two seconds,
    // the last text always.
    typing: (text) => {
      if (!st.live) return
      clearTimeout(typingLater)
      const tell = () => {
        typed = Date.now()
        const content = btoa(String.fromCharCode(...new TextEncoder().encode(text)))
        request(servers[dialogIndex()], 'chat/typing/' + bot, { typing: !!text, content, contextId: st.ctx, solutionUsed: 'ASSISTANT' }, 3000).catch(() => {})
      }
      const wait = typed + 2000 - Date.now()
      if (wait > 0) typingLater = setTimeout(tell, wait)
      else tell()
    },
  }
}
