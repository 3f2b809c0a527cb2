export interface DemoPageSettings {
  wsPath: string;
  /** Whether POST /demo/token exists, so the page can offer to mint a development token. */
  tokenEndpoint: boolean;
  /** Whether POST /v1/notifications answers on the page's own port: not with INTERNAL_PORT set. */
  publishHere: boolean;
  /** NODE_ENV=production: the page never mints tokens, whatever DEMO_ENABLED says, and says so. */
  production: boolean;
}

/**
 * The browser half of the demo: it reads #token and #rooms from the fragment (which no request,
 * access log or Referer carries), connects with the SDK, shows the bell.
 */
const PAGE_SCRIPT = `
import { connect, personalRoom } from '/demo/assets/index.js';
import { defineHeraldBell } from '/demo/assets/herald-bell.element.js';

const settings = JSON.parse(document.getElementById('herald-demo-settings').textContent);
const params = new URLSearchParams(location.hash.slice(1));
const token = params.get('token');
const rooms = (params.get('rooms') ?? '').split(',').map((room) => room.trim()).filter(Boolean);
const $ = (id) => document.getElementById(id);

function log(text) {
  const entry = document.createElement('li');
  entry.textContent = new Date().toLocaleTimeString() + '  ' + text;
  $('log').prepend(entry);
}

async function mintToken(claims) {
  const response = await fetch('/demo/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(claims),
  });
  const body = await response.json();
  if (!response.ok) throw new Error([].concat(body.message).join('; '));
  return body.token;
}

defineHeraldBell();

if (!token) {
  $('connect').hidden = false;
  if (!settings.tokenEndpoint) {
    $('mint').hidden = true;
    $('no-mint').hidden = false;
  } else {
    $('mint').addEventListener('submit', async (event) => {
      event.preventDefault();
      const form = new FormData(event.target);
      const wanted = String(form.get('rooms')).split(',').map((room) => room.trim()).filter(Boolean);
      try {
        const minted = await mintToken({ sub: String(form.get('sub')), rooms: wanted.filter((room) => !room.startsWith('public:')) });
        location.hash = new URLSearchParams({ token: minted, rooms: wanted.join(',') }).toString();
        location.reload();
      } catch (error) {
        $('mint-error').textContent = error.message;
      }
    });
  }
} else {
  $('live').hidden = false;
  const url = new URL(settings.wsPath, location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  let client;
  try {
    client = connect(url.toString(), { getToken: () => token, rooms });
  } catch (error) {
    // A room in the link the client refuses (it says which): said on the page, not a blank one.
    $('state').textContent = 'not connected';
    log('cannot connect: ' + error.message);
  }
  if (client) {
    window.herald = { client };
    const bell = $('bell');
    bell.client = client;
    client.on('state', ({ state }) => { $('state').textContent = state; log('state: ' + state); });
    client.on('welcome', (welcome) => {
      $('user').textContent = welcome.user;
      $('rooms').textContent = client.rooms.join(', ');
    });
    client.on('disconnect', ({ code, reason, reconnectInMs }) => {
      log('closed ' + code + ' ' + reason + (reconnectInMs === null ? ', not reconnecting' : ', reconnecting in ' + reconnectInMs + ' ms'));
      // ALLOWED_ORIGINS lists the product's pages; this page is served by Herald itself.
      if (reason === 'origin_not_allowed') log("this page's origin, " + location.origin + ', is not in ALLOWED_ORIGINS: add it there to use the demo');
    });
    client.on('recovery', ({ room, recovered, missed }) =>
      log(recovered ? 'recovered ' + missed + ' missed in ' + room : 'history of ' + room + ' no longer reaches back: some notifications may be missing'));
    client.on('notification', (n) => log('notification ' + n.type + ' in ' + n.room));
    client.on('message', (m) => log(m.user + ' in ' + m.room + ': ' + m.text));
    client.on('presence', (p) => log(p.user + ' ' + p.status + ' ' + p.room));
    client.on('inbox', ({ unread, read }) => log('inbox: ' + (read === 'all' ? 'all' : read.length) + ' marked read, ' + unread + ' unread'));
    bell.addEventListener('herald-error', (event) => log('inbox error: ' + event.detail.error.message));
    client.on('error', (error) => log('error ' + error.code + ': ' + error.message));

    if (!settings.tokenEndpoint || !settings.publishHere) {
      $('send').hidden = true;
      $(settings.publishHere ? 'no-send' : 'no-send-here').hidden = false;
    } else {
      $('send').addEventListener('submit', async (event) => {
        event.preventDefault();
        const form = new FormData(event.target);
        // Welcomed once at least: the notification goes to the user the server says this is.
        if (!client.welcome) {
          log('could not publish: not connected yet');
          return;
        }
        try {
          const publisher = await mintToken({ sub: 'demo-publisher', scope: 'notifications:publish', ttl: 60 });
          const response = await fetch('/v1/notifications', {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: 'Bearer ' + publisher },
            body: JSON.stringify({
              users: [client.welcome.user],
              type: 'demo.test',
              payload: { title: String(form.get('title')), body: String(form.get('body')) },
            }),
          });
          if (!response.ok) throw new Error('publish answered ' + response.status);
        } catch (error) {
          log('could not publish: ' + error.message);
        }
      });
    }
  }
}
`;

const PAGE_STYLE = `
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
  header { display: flex; align-items: center; justify-content: space-between; padding: 12px 24px;
    background: #fff; border-bottom: 1px solid #d0d7de; }
  h1 { font-size: 18px; margin: 0; }
  main { max-width: 760px; margin: 24px auto; padding: 0 24px; }
  section { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 16px 20px; margin-bottom: 16px; }
  label { display: block; margin: 8px 0; }
  input { font: inherit; padding: 4px 8px; width: 280px; }
  button { font: inherit; padding: 4px 12px; }
  #log { font: 13px/1.6 ui-monospace, monospace; list-style: none; padding-left: 0; max-height: 320px; overflow-y: auto; }
  .error { color: #cf222e; }
  code { background: #eaeef2; padding: 1px 4px; border-radius: 4px; }
  pre { background: #eaeef2; padding: 8px 12px; border-radius: 6px; overflow-x: auto; }
  pre code { padding: 0; }
`;

/** The demo page; `settings` travel as JSON that the page script reads. */
export function renderDemoPage(settings: DemoPageSettings): string {
  // Escaping '<' keeps the JSON from closing its <script> element.
  const json = JSON.stringify(settings).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Herald demo</title>
<link rel="icon" href="data:,">
<style>${PAGE_STYLE}</style>
</head>
<body>
<header><h1>Herald demo</h1><herald-bell id="bell"></herald-bell></header>
<main>
  <section id="connect" hidden>
    <p>Open this page as <code>/demo#token=&lt;JWT&gt;&amp;rooms=public:news,chat:1</code> to connect as that token's user.</p>
    <form id="mint">
      <p>Or mint a development token:</p>
      <label>User <input name="sub" value="alice" required></label>
      <label>Rooms <input name="rooms" value="public:news,chat:1"></label>
      <button type="submit">Connect</button>
      <p id="mint-error" class="error"></p>
    </form>
    <div id="no-mint" hidden>
      <p>${settings.production ? 'This server runs with <code>NODE_ENV=production</code>' : 'This server has a configured signing key'}, so it does not mint tokens for whoever asks.
        Mint one in a terminal where the same <code>JWT_SECRET</code> is set:</p>
      <pre><code>npm run -s token -- --sub alice --rooms 'chat:*'</code></pre>
      <p>and open this page as <code>/demo#token=&lt;the token&gt;&amp;rooms=public:news,chat:1</code>.${
        settings.production
          ? ''
          : `
        Or start Herald with <code>DEMO_ENABLED=true</code> (development only) to get a form here that mints one,
        and a button that sends you a test notification.`
      }</p>
    </div>
  </section>
  <section id="live" hidden>
    <p>Connected as <b id="user">…</b>, state <output id="state">connecting</output>. Rooms: <span id="rooms"></span></p>
    <form id="send">
      <label>Title <input name="title" value="Hello from Herald"></label>
      <label>Body <input name="body" value="This notification went through POST /v1/notifications."></label>
      <button type="submit">Send me a test notification</button>
    </form>
    <p id="no-send" hidden>Send yourself a notification with <code>POST /v1/notifications</code> and a token with the
      <code>notifications:publish</code> scope (the README's tour shows the <code>curl</code>)${
        settings.production
          ? '.'
          : `, or start Herald with
      <code>DEMO_ENABLED=true</code> (development only) for a button here that does it.`
      }</p>
    <p id="no-send-here" hidden>The publish API answers on <code>INTERNAL_PORT</code>, not on this page's port: send yourself
      a notification there with <code>POST /v1/notifications</code> and a token with the <code>notifications:publish</code>
      scope (the README's tour shows the <code>curl</code>).</p>
    <h2>Events</h2>
    <ol id="log" reversed></ol>
  </section>
</main>
<script type="application/json" id="herald-demo-settings">${json}</script>
<script type="module">${PAGE_SCRIPT}</script>
</body>
</html>
`;
}
