// A stand-in for rtpengine's control port (the "ng" protocol: a cookie, a
// space, a bencoded dictionary, over UDP), just enough for
// drachtio-siprec-recording-server in t/drachtio_app.t: "offer" and
// "answer" get {result: ok, sdp} with an SDP laid out as rtpengine lays
// its out (session c= before t=), naming a media port of its own for each
// stream so that the test can find them in the application's 200 OK;
// "delete" and "ping" get ok. No media is relayed or recorded.
//
// usage: node fake_rtpengine.js PORT
// Prints "LISTENING <port>" once bound, then one line per command:
// "CMD <command> call-id=<..> from-tag=<..> to-tag=<..> port=<allocated>".
'use strict';
const dgram = require('dgram');
const bencode = require('bencode');

const port = parseInt(process.argv[2], 10);
const sock = dgram.createSocket('udp4');
let next = 31000;

function sdpFor(offered, mport) {
  // keep the offer's codec lines, as rtpengine does with no transcoding
  const attrs = (offered.match(/^a=(rtpmap|fmtp|ptime|maxptime):.*$/mg) || []).join('\r\n');
  const fmt = (/^m=audio \d+ \S+ ([^\r\n]+)/m.exec(offered) || [null, '0'])[1];
  return 'v=0\r\n' +
    `o=- ${mport} 1 IN IP4 127.0.0.1\r\n` +
    's=sipchain-test-rtpengine\r\n' +
    'c=IN IP4 127.0.0.1\r\n' +
    't=0 0\r\n' +
    `m=audio ${mport} RTP/AVP ${fmt}\r\n` +
    (attrs ? attrs + '\r\n' : '') +
    'a=recvonly\r\n' +
    'a=rtcp:' + (mport + 1) + '\r\n';
}

sock.on('message', (msg, rinfo) => {
  const s = msg.toString('binary');
  const sp = s.indexOf(' ');
  if (sp < 0) return;
  const cookie = s.substring(0, sp);
  let req;
  try { req = bencode.decode(Buffer.from(s.substring(sp + 1), 'binary'), 'utf8'); }
  catch (e) { console.log(`BAD ${e.message}`); return; }
  const cmd = req.command;
  const resp = {result: 'ok'};
  let alloc = '';
  if (cmd === 'offer' || cmd === 'answer') {
    const mport = next; next += 2;
    resp.sdp = sdpFor(req.sdp || '', mport);
    alloc = ` port=${mport}`;
  }
  else if (cmd === 'ping') resp.result = 'pong';
  console.log(`CMD ${cmd} call-id=${req['call-id']} from-tag=${req['from-tag']} to-tag=${req['to-tag'] || ''}` +
    ` record=${req['record call'] || ''}${alloc}`);
  sock.send(Buffer.concat([Buffer.from(cookie + ' '), bencode.encode(resp)]), rinfo.port, rinfo.address);
});
sock.bind(port, '127.0.0.1', () => console.log(`LISTENING ${port}`));
process.on('SIGTERM', () => process.exit(0));
