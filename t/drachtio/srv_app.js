// drachtio-srf applications for t/drachtio_server.t (issue 21, points
// 6-10): argv[2] is the mode, argv[3] sipchain's drachtio listener
// (host:port) or "listen:PORT" (srf.listen, sipchain connects out), then
// the mode's arguments.  Every event is printed as a line the test reads.
//   options   routes OPTIONS (when "route" is given) and INVITE; answers
//             OPTIONS 200 with X-App: srf
//   count     routes INVITE and MESSAGE, answers 200 and prints each
//   hold      routes MESSAGE and never answers it; rings INVITEs, never
//             answers them (point 9); each time file argv[5] appears,
//             removes it, sends a new MESSAGE to argv[4] and prints SENT
//             or SEND-ERROR <reason>
//   verbs     the control protocol by hand (point 10): unknown verb, a
//             frame of one token, a short route, then a ping
//   http      an HTTP routing service on port argv[3] (point 8)
//   https     the same over TLS: argv[4] and argv[5] its key and cert files
'use strict';
const [mode, hostport, ...args] = process.argv.slice(2);
const log = (...a) => console.log(a.join(' '));
process.on('uncaughtException', (e) => log('ERROR', e.stack.replace(/\n/g, ' | ')));

if (mode === 'verbs') {
  // raw framing: "<len>#<payload>"; prints each reply as REPLY <payload>
  const net = require('net');
  const [host, port] = hostport.split(':');
  const s = net.connect(+port, host);
  let buf = Buffer.alloc(0);
  const send = (p) => s.write(`${Buffer.byteLength(p)}#${p}`);
  s.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      const m = /^(\d+)#/.exec(buf.toString('latin1', 0, 12));
      if (!m || buf.length < m[0].length + +m[1]) break;
      log('REPLY', buf.toString('utf8', m[0].length, m[0].length + +m[1]));
      buf = buf.subarray(m[0].length + +m[1]);
    }
  });
  s.on('close', () => log('CLOSED'));
  s.on('connect', () => {
    send('a1|authenticate|cymru|');
    setTimeout(() => send('a2|frobnicate|x'), 200);
    setTimeout(() => send('a3'), 400);
    setTimeout(() => send('a4|route'), 600);
    setTimeout(() => send('a5|ping'), 800);
    setTimeout(() => { log('DONE'); s.end(); }, 1500);
  });
  return;
}

if (mode === 'http' || mode === 'https') {
  // The routing service: the To user says what to answer.  Prints
  // "HTTP <method> <url> body=<first line of the body>".
  const fs = require('fs');
  const tls = mode === 'https' ? { key: fs.readFileSync(args.shift()), cert: fs.readFileSync(args.shift()) } : null;
  const dests = Object.fromEntries(args.map((a) => a.split('=')));
  const serve = (req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const url = new URL(req.url, 'http://x');
      const q = url.searchParams;
      log('HTTP', req.method, req.url, `body=${body.split('\r\n')[0]}`, `ctype=${req.headers['content-type'] || ''}`,
        ...(tls ? [`sni=${req.socket.servername || ''}`] : []), `host=${req.headers.host}`);
      const user = q.get('toUser');
      const json = (o) => { res.setHeader('Content-Type', 'application/json'); res.end(JSON.stringify(o)); };
      if (user === 'reject') return json({ action: 'reject', data: { status: 486, reason: 'Busy By Routing' } });
      if (user === 'redirect') return json({ action: 'redirect', data: { contact: ['sip:a@192.0.2.1', 'sip:b@192.0.2.2'] } });
      if (user === 'proxy') return json({ action: 'proxy', data: { destination: dests.proxy } });
      if (user === 'route') return json({ action: 'route', data: { uri: dests.route } });
      if (user === 'tagged') return json({ action: 'route', data: { tag: 'blue' } });
      if (user === 'garbage') return res.end('this is not json');
      if (user === 'nodata') return json({ action: 'reject' });
      if (user === 'forge') return json({ action: 'reject', data: { status: 480, reason: 'x\r\nX-Forged: 1' } });
      if (user === 'error') { res.statusCode = 500; return res.end('oops'); }
      if (user === 'slow') return;            // never answers: the timeout
      return json({ action: 'reject', data: { status: 404 } });
    });
  };
  const srv = tls ? require('https').createServer(tls, serve) : require('http').createServer(serve);
  srv.on('tlsClientError', (e) => log('TLS-ERROR', e.message));
  srv.listen(+hostport, '127.0.0.1', () => log('LISTENING', `port=${hostport}`));
  return;
}

const Srf = require('drachtio-srf');
const srf = new Srf(args.includes('blue') ? ['blue'] : undefined);
const [host, port] = hostport.split(':');
if (host === 'listen') {
  srf.listen({ host: '127.0.0.1', port: +port, secret: 'cymru' }, () => log('LISTENING', `port=${port}`));
} else {
  srf.connect({ host, port: +port, secret: 'cymru', tags: args.includes('blue') ? ['blue'] : [] });
}
srf.on('connect', (err, hp) => log(err ? 'CONNECT-ERROR' : 'CONNECTED', err ? err.message : `hostport=${hp}`));
srf.on('error', (err) => log('SOCKET-ERROR', err.message));
const sdp = 'v=0\r\no=app 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n';

if (mode === 'options') {
  if (args.includes('route')) {
    srf.options((req, res) => { log('OPTIONS', req.get('User-Agent') || ''); res.send(200, { headers: { 'X-App': 'srf' } }); });
  }
  srf.invite((req, res) => res.send(486));
}

if (mode === 'count') {
  srf.invite((req, res) => {
    log('INVITE', `to=${req.calledNumber}`, `ua=${req.get('User-Agent') || ''}`);
    srf.createUAS(req, res, { localSdp: sdp, headers: { 'X-App': args[0] || 'count' } })
      .then((dlg) => { log('UAS-DIALOG', `id=${dlg.id}`); dlg.on('destroy', () => log('DESTROY')); })
      .catch((e) => log('UAS-ERROR', e.message));
  });
  srf.message((req, res) => { log('MESSAGE', `to=${req.calledNumber}`, `ua=${req.get('User-Agent') || ''}`); res.send(200, { headers: { 'X-App': args[0] || 'count' } }); });
}

if (mode === 'hold') {
  if (args[1]) {
    setInterval(() => {
      try { require('fs').unlinkSync(args[1]); } catch (e) { return; }
      srf.request(`sip:late@${args[0]}`, { method: 'MESSAGE', headers: { 'Content-Type': 'text/plain' }, body: 'x' },
        (err) => log(err ? 'SEND-ERROR' : 'SENT', err ? err.message : ''));
    }, 50);
  }
  srf.message((req) => log('HELD', req.get('Call-ID')));
  srf.invite((req, res) => { res.send(180); log('RINGING', req.get('Call-ID')); });
}
