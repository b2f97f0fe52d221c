// A registrar and proxy made of drachtio's published middleware, used
// unmodified as their READMEs show (drachtio-mw-registration-parser,
// drachtio-mw-digest-auth, pinned in package.json), for
// t/drachtio_server.t: REGISTER is parsed and challenged by them, the
// bindings kept here; an INVITE to a registered user is proxied to its
// contact.  argv[2]: sipchain's drachtio listener; argv[3..]: user=password.
'use strict';
const Srf = require('drachtio-srf');
const regParser = require('drachtio-mw-registration-parser');
const digestAuth = require('drachtio-mw-digest-auth');
const [hostport, ...users] = process.argv.slice(2);
const passwords = Object.fromEntries(users.map((u) => u.split('=')));
const log = (...a) => console.log(a.join(' '));
process.on('uncaughtException', (e) => log('ERROR', e.stack.replace(/\n/g, ' | ')));

const srf = new Srf();
const [host, port] = hostport.split(':');
srf.connect({ host, port: +port, secret: 'cymru' });
srf.on('connect', (err, hp) => log(err ? 'CONNECT-ERROR' : 'CONNECTED', err ? err.message : `hostport=${hp}`));

const bindings = new Map();     // user -> contact uri
srf.use('register', regParser);
srf.use('register', digestAuth({
  realm: 'example.com',
  passwordLookup: (username, realm, cb) => cb(null, passwords[username]),
}));
srf.register((req, res) => {
  const user = Srf.parseUri(req.registration.aor).user;
  const contact = req.registration.contact[0].uri;
  if (req.registration.type === 'unregister') bindings.delete(user);
  else bindings.set(user, contact);
  log('REGISTERED', `user=${user}`, `contact=${contact}`, `expires=${req.registration.expires}`,
    `auth=${req.authorization.username}`);
  res.send(200, { headers: { Contact: req.get('Contact'), Expires: req.registration.expires } });
});
srf.invite((req, res) => {
  const to = req.calledNumber;
  const contact = bindings.get(to);
  if (!contact) return res.send(404);
  srf.proxyRequest(req, contact, { recordRoute: true })
    .then((r) => log('PROXIED', `to=${to}`, `final=${r.finalStatus}`))
    .catch((e) => log('PROXY-FAILED', e.message));
});
