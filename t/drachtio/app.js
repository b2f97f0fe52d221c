// A drachtio-srf application for t/drachtio.t: argv[2] is the mode,
// argv[3] the sipchain drachtio listener (host:port), or "listen:PORT"
// for outbound mode (srf.listen: sipchain connects to us per request),
// then the mode's arguments.  Everything it sees is printed one event per line
// ("EVENT key=value ..."), which the test reads.
'use strict';
const Srf = require('drachtio-srf');
const [mode, hostport, ...args] = process.argv.slice(2);
const [host, port] = hostport.split(':');
const srf = new Srf();
const sdp = 'v=0\r\no=app 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n' +
  'm=audio 40000 RTP/AVP 0\r\na=sendrecv\r\n';
const log = (...a) => console.log(a.join(' '));
process.on('uncaughtException', (e) => { log('ERROR', e.stack.replace(/\n/g, ' | ')); });

['attempt', 'start', 'stop'].forEach((ev) => {
  if (!args.includes('cdr')) return;
  srf.on(`cdr:${ev}`, (source, time, third, msg) => {
    log(`CDR ${ev}`, `source=${source}`, ev === 'attempt' ? '' : `info=${third}`,
      `callid=${(msg || third).get('Call-ID')}`);
  });
});

const watch = (dlg, name) => {
  dlg.on('destroy', (bye) => log('DESTROY', name, `reason=${bye && bye.get ? bye.get('Reason') || 'bye' : ''}`));
  dlg.on('modify', (req, res) => { log('MODIFY', name); res.send(200, { body: sdp }); });
  dlg.on('info', (req, res) => { log('INFO', name, req.get('X-Info')); res.send(200); });
};

// TLS from the environment: DR_TLS_CA to check sipchain's certificate
// (srf.connect), DR_TLS_CERT and DR_TLS_KEY to listen with (srf.listen);
// DR_TAGS: the tags it authenticates with (comma-separated)
const fs = require('fs');
const env = process.env;
if (host === 'listen') {
  const tls = env.DR_TLS_CERT ? { cert: fs.readFileSync(env.DR_TLS_CERT), key: fs.readFileSync(env.DR_TLS_KEY) } : undefined;
  srf.listen({ host: '127.0.0.1', port: +port, secret: 'cymru', tls }, () => log('LISTENING', `port=${port}`));
} else {
  const tls = env.DR_TLS_CA ? { ca: fs.readFileSync(env.DR_TLS_CA) } : undefined;
  const tags = env.DR_TAGS ? env.DR_TAGS.split(',') : [];
  srf.connect({ host, port: +port, secret: 'cymru', tls, tags, enablePing: args.includes('ping'), pingInterval: 5000 });
}
srf.on('connect', (err, hp, version) => {
  if (err) return log('CONNECT-ERROR', err.message);
  log('CONNECTED', `hostport=${hp}`, `version=${version}`);
  if (mode === 'uac') uac();
});
srf.on('error', (err) => log('SOCKET-ERROR', err.message));

if (mode === 'uas') {
  srf.invite((req, res) => {
    log('INVITE', `from=${req.callingNumber}`, `to=${req.calledNumber}`, `txn=${req.stackTxnId}`,
      `auth=${(/username="([^"]*)"/.exec(req.get('Authorization') || req.get('Proxy-Authorization') || '') || [])[1] || ''}`);
    req.on('cancel', () => log('CANCELLED', req.get('Call-ID')));
    if (req.calledNumber === 'busy') return res.send(486, 'Busy Here', { headers: { 'X-Why': 'test' } });
    if (req.calledNumber === 'slow') return res.send(180);
    if (req.calledNumber === 'mytag') return res.send(480, { headers: { To: 'x;tag=app-tag-1' } });
    if (req.calledNumber === 'rel') {         // a reliable 183 (RFC 3262), answered once PRACKed
      return res.send(183, { headers: { Require: '100rel' }, body: sdp },
        (err, msg) => log('REL-SENT', `rseq=${msg && msg.get('RSeq')}`, `dialog=${res.meta && res.meta.dialogId}`),
        (prack) => {
          log('PRACK', `rack=${prack.get('RAck')}`);
          srf.createUAS(req, res, { localSdp: sdp })
            .then((dlg) => { log('UAS-DIALOG', `id=${dlg.id}`); watch(dlg, 'uas'); })
            .catch((e) => log('UAS-ERROR', e.message));
        });
    }
    srf.createUAS(req, res, { localSdp: sdp, headers: { 'X-App': 'srf' } })
      .then((dlg) => { log('UAS-DIALOG', `id=${dlg.id}`); watch(dlg, 'uas');
        if (args.includes('hangup')) setTimeout(() => dlg.destroy().then(() => log('HUNGUP')), 500); })
      .catch((e) => log('UAS-ERROR', e.message));
  });
  srf.message((req, res) => { log('MESSAGE', req.body); res.send(200, { headers: { 'X-Reply': 'yes' } }); });
}

function uac() {
  const [uri, user, pass] = args;
  srf.createUAC(uri, { localSdp: sdp, auth: user ? { username: user, password: pass } : undefined,
    headers: { 'X-From-App': 'uac' } }, {
    cbRequest: (err, req) => log('UAC-SENT', `txn=${req && req.stackTxnId}`),
    cbProvisional: (res) => log('UAC-PROVISIONAL', res.status),
  }).then((dlg) => {
    log('UAC-DIALOG', `id=${dlg.id}`, `remote=${dlg.remote.sdp ? 'sdp' : 'none'}`);
    watch(dlg, 'uac');
    setTimeout(() => dlg.destroy().then(() => log('UAC-BYE-DONE')), 1000);
  }).catch((e) => log('UAC-FAILED', e.status || e.message));
}

if (mode === 'b2bua') {
  srf.invite((req, res) => {
    req.on('cancel', () => log('CANCELLED-A'));
    srf.createB2BUA(req, res, args[0], { localSdpB: req.body, headers: { 'X-B2B': 'yes' } })
      .then(({ uas, uac }) => {
        log('B2B-CONNECTED', `a=${uas.id}`, `b=${uac.id}`);
        uas.on('destroy', () => { log('DESTROY a'); uac.destroy(); });
        uac.on('destroy', () => { log('DESTROY b'); uas.destroy(); });
        uas.on('modify', (r2, res2) => {
          uac.modify(r2.body)
            .then((bsdp) => res2.send(200, { body: bsdp }, () => log('REINVITE-RELAYED')))
            .catch((e) => { log('REINVITE-FAILED', e.status || e.message); res2.send(500); });
        });
      })
      .catch((e) => log('B2B-FAILED', e.status || e.message));
  });
}

if (mode === 'proxy') {
  srf.invite((req, res) => {
    srf.proxyRequest(req, args.filter((a) => a.startsWith('sip:')),
      { forking: 'simultaneous', recordRoute: true })
      .then((r) => log('PROXY-DONE', `connected=${r.connected}`, `final=${r.finalStatus}`,
        `finals=${[].concat(...r.responses.map((x) => x.msgs.map((m) => m.status)))
          .filter((st) => st >= 200).sort().join(',')}`))
      .catch((e) => log('PROXY-FAILED', e.message));
  });
}
