// A drachtio-srf application for t/udp_fallback.t: places one call to
// argv[3] with an SDP padded to argv[4] octets (so that it is over the
// server's udp_mtu), prints what happens one event per line, and hangs
// up half a second after the answer.  argv[2]: sipchain's drachtio
// listener (host:port).
'use strict';
const Srf = require('drachtio-srf');
const [hostport, uri, pad] = process.argv.slice(2);
const [host, port] = hostport.split(':');
const log = (...a) => console.log(a.join(' '));
const sdp = 'v=0\r\no=app 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n' +
  'm=audio 40000 RTP/AVP 0\r\na=sendrecv\r\na=x-pad:' + 'x'.repeat(+pad || 0) + '\r\n';
const srf = new Srf();
srf.connect({ host, port: +port, secret: 'cymru' });
srf.on('error', (err) => log('SOCKET-ERROR', err.message));
srf.on('connect', (err) => {
  if (err) return log('CONNECT-ERROR', err.message);
  log('CONNECTED');
  srf.createUAC(uri, { localSdp: sdp }, {
    cbRequest: (e, req) => log('UAC-SENT', `protocol=${req && req.protocol}`),
  }).then((dlg) => {
    log('UAC-DIALOG');
    setTimeout(() => dlg.destroy().then(() => { log('UAC-BYE-DONE'); process.exit(0); }), 500);
  }).catch((e) => log('UAC-FAILED', e.status || e.message));
});
