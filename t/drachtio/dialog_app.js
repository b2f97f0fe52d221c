// A drachtio-srf application for t/drachtio_dialog.t (dialog behaviours
// shared with drachtio-server): argv[2] is the mode, argv[3] the
// sipchain drachtio listener (host:port), then the mode's arguments.
// Every event is printed one per line ("EVENT key=value ..."); the test
// reads them.
//   uac URI [stay] [contact]   createUAC to URI, hang up after a second
//             (stay: never; contact: a bare addr-spec Contact of its own)
//   uas       answer calls by the called user:
//     reinv     Contact given as a bare addr-spec (on the 200 and the
//               re-INVITE's 200); re-INVITEs answered with
//               res.send(200, opts, cb, fnAck), the ACK reported
//     setimer   the 200 carries the app's own Session-Expires (2 s, the
//               caller refreshing)
//     update    sends an UPDATE in the dialog 300 ms after the 200
//     (other)   a plain createUAS
'use strict';
const Srf = require('drachtio-srf');
const [mode, hostport, ...args] = process.argv.slice(2);
const [host, port] = hostport.split(':');
const srf = new Srf();
const sdp = 'v=0\r\no=app 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n' +
  'm=audio 40000 RTP/AVP 0\r\na=sendrecv\r\n';
const log = (...a) => console.log(a.join(' '));
process.on('uncaughtException', (e) => { log('ERROR', e.stack.replace(/\n/g, ' | ')); });

const watch = (dlg, name) => {
  dlg.on('destroy', (bye) => log('DESTROY', name, `reason=${bye && bye.get ? bye.get('Reason') || 'bye' : ''}`));
};

srf.connect({ host, port: +port, secret: 'cymru' });
srf.on('connect', (err, hp) => {
  if (err) return log('CONNECT-ERROR', err.message);
  log('CONNECTED', `hostport=${hp}`);
  if (mode === 'uac') uac();
});
srf.on('error', (err) => log('SOCKET-ERROR', err.message));

function uac() {
  const headers = args.includes('contact') ? { Contact: 'sip:uac@localhost' } : {};
  srf.createUAC(args[0], { localSdp: sdp, headers }, {
    cbProvisional: (res) => log('UAC-PROVISIONAL', res.status, `rseq=${res.get('RSeq') || ''}`),
  }).then((dlg) => {
    log('UAC-DIALOG', `id=${dlg.id}`);
    watch(dlg, 'uac');
    if (args.includes('stay')) return;
    setTimeout(() => dlg.destroy().then(() => log('UAC-BYE-DONE')), 1000);
  }).catch((e) => log('UAC-FAILED', e.status || e.message));
}

if (mode === 'uas') {
  srf.invite((req, res) => {
    const who = req.calledNumber;
    const headers = {};
    if (who === 'reinv') headers.Contact = 'sip:dlg@localhost';
    if (who === 'setimer') Object.assign(headers, { 'Session-Expires': '2;refresher=uac', Require: 'timer' });
    srf.createUAS(req, res, { localSdp: sdp, headers })
      .then((dlg) => {
        log('UAS-DIALOG', who, `id=${dlg.id}`);
        watch(dlg, who);
        if (who === 'update') {     // an UPDATE of its own (a session refresh, RFC 4028)
          setTimeout(() => dlg.request({ method: 'UPDATE' })
            .then((r) => log('UPDATE-DONE', r.status)).catch((e) => log('UPDATE-FAILED', e.message)), 300);
        }
        dlg.on('modify', (r2, res2) => {
          log('MODIFY', `offer=${r2.body ? 'sdp' : 'none'}`);
          res2.send(200, { body: sdp, headers: { Contact: 'sip:dlg@localhost', 'Content-Type': 'application/sdp' } },
            (err) => log('MODIFY-SENT', err ? err.message || err : 'ok'),
            (ack) => log('REINVITE-ACK', `cseq=${ack.get('CSeq')}`, `answer=${ack.body ? 'sdp' : 'none'}`));
        });
      })
      .catch((e) => log('UAS-ERROR', e.message));
  });
}
