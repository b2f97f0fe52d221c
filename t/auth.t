# digest-auth end to end (RFC 7616 / RFC 2617 server side): 401 for
# REGISTER and requests to us, 407 for requests we forward, SHA-256 and
# MD5 offered with qop=auth and opaque; MD5, SHA-256, -sess, auth-int and
# RFC 2069 answers accepted; a wrong password and an unknown user get the
# same answer; forged nonces refused, replays (nc not growing, a no-qop
# nonce used twice) refused, an expired nonce answered stale=true, and a
# restart does not make old nonces usable; a user registers only its own
# AOR; ACK and CANCEL are not challenged; the identity reaches the next
# module; the users file (password / ha1 / ha1_sha256) reloads on SIGHUP;
# sipchain -a prints HA1 lines.  The defaults are what phones speak (one
# MD5 challenge); an INVITE to a user is challenged with 407, never 401;
# credentials for our realm are taken off what is forwarded, other
# realms' pass untouched (RFC 3261 §22.3).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use Digest::MD5 qw(md5_hex);
use Digest::SHA qw(sha256_hex);
use Socket ();
use SipTest;

my $mods = module_dir();
my $dir = tmpdir();
my $realm = 'example.com';
my $bob_ha1 = md5_hex("bob:$realm:b0bpass");
my $bob_sha = sha256_hex("bob:$realm:b0bpass");
my $users = write_file('users.yaml', "alice: { password: \"s3cret\" }\nbob: { ha1: \"$bob_ha1\", ha1_sha256: \"$bob_sha\" }\n");

sub conf {
    my ($port, $extra) = @_;
    return "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\n  log: { level: debug }\n"
         . "modules_path: $mods\nchain:\n"
         . "  - module: digest-auth\n    realm: $realm\n    users: $users\n    nonce_lifetime: 5\n$extra"
         . "  - module: registrar\n    methods: [ REGISTER ]\n    domains: [ $realm ]\n"
         . "  - module: t_whoami\n    methods: [ MESSAGE ]\n";
}
my $port = free_port();
# both algorithms, SHA-256 first, by configuration (the default is MD5 alone: section 10)
my ($pid, undef, $log) = start_server(port => $port, yaml => conf($port, "    algorithms: [ SHA-256, MD5 ]\n"));
my $c = udp_client();
my $me = $c->sockport;
my $n = 0;

sub send_req {
    my (%o) = @_;
    my $method = $o{method} // 'REGISTER';
    my $user = $o{user} // 'alice';
    my $ruri = $o{ruri} // "sip:$realm";
    my $body = $o{body} // '';
    $n++;
    my $m = "$method $ruri SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-a$n;rport\r\n"
          . "Max-Forwards: 70\r\nTo: <sip:" . ($o{to} // $user) . "\@$realm>\r\nFrom: <sip:$user\@$realm>;tag=f$n\r\n"
          . "Call-ID: auth-$user\r\nCSeq: $n $method\r\n"
          . ($method eq 'REGISTER' ? "Contact: <sip:$user\@127.0.0.1:$me>\r\n" : '')
          . join('', map { "$_\r\n" } @{ $o{headers} // [] })
          . ($body ne '' ? "Content-Type: text/plain\r\n" : '')
          . "Content-Length: " . length($body) . "\r\n\r\n$body";
    my $r = send_recv($c, $port, $m, $o{wait} // 3);
    $r = recv_msg($c, 3) while defined $r && $r =~ m{^SIP/2\.0 1};
    return $r // '';
}
sub status { my ($r) = @_; return $r =~ m{^SIP/2\.0 (\d{3})} ? $1 : 'none' }
sub hdrs { my ($r, $h) = @_; return ($r =~ /^$h: ([^\r]*)\r$/mg) }
sub param { my ($ch, $p) = @_; return $ch =~ /\b$p="?([^",]*)"?/ ? $1 : undef }
sub slurp { local (@ARGV, $/) = $_[0]; return scalar(<>) // '' }

# the Authorization value answering challenge $ch
sub answer {
    my (%o) = @_;
    my $ch = $o{ch};
    my $alg = $o{alg} // 'MD5';
    my $H = $alg =~ /SHA-256/ ? \&sha256_hex : \&md5_hex;
    my ($nonce, $opaque) = (param($ch, 'nonce'), param($ch, 'opaque'));
    my $ha1 = $H->("$o{user}:$realm:$o{pass}");
    my $cnonce = 'c0ffee' . int(rand(1e6));
    $ha1 = $H->("$ha1:$nonce:$cnonce") if $alg =~ /-sess$/;
    my $uri = $o{uri} // "sip:$realm";
    my $ha2 = ($o{qop} // 'auth') eq 'auth-int' ? $H->("$o{method}:$uri:" . $H->($o{body} // '')) : $H->("$o{method}:$uri");
    my $nc = $o{nc} // '00000001';
    my $qop = $o{qop} // 'auth';
    my $resp = $qop eq 'none' ? $H->("$ha1:$nonce:$ha2") : $H->("$ha1:$nonce:$nc:$cnonce:$qop:$ha2");
    my $v = "Digest username=\"$o{user}\", realm=\"$realm\", nonce=\"$nonce\", uri=\"$uri\", response=\"$resp\", "
          . "algorithm=$alg, opaque=\"$opaque\"";
    $v .= ", qop=$qop, nc=$nc, cnonce=\"$cnonce\"" unless $qop eq 'none';
    return $v;
}

# 1. the challenge
my $r = send_req();
is(status($r), '401', 'REGISTER without credentials: 401');
my @ch = hdrs($r, 'WWW-Authenticate');
is(scalar @ch, 2, 'two challenges');
like($ch[0] // '', qr/^Digest realm="example\.com", nonce="[0-9a-f]{80}", opaque="[0-9a-f]{32}", algorithm=SHA-256, qop="auth"$/, 'SHA-256 first, with qop, opaque');
like($ch[1] // '', qr/algorithm=MD5/, 'then MD5');
my ($sha_ch, $md5_ch) = @ch;

# 2. answers
$r = send_req(headers => [ 'Authorization: ' . answer(ch => $md5_ch, user => 'alice', pass => 's3cret', method => 'REGISTER') ]);
is(status($r), '200', 'MD5 with qop=auth: registered');
my $creds = answer(ch => $md5_ch, user => 'alice', pass => 's3cret', method => 'REGISTER', nc => '00000002');
is(status(send_req(headers => [ "Authorization: $creds" ])), '200', 'the same nonce, nc 2: accepted');
is(status(send_req(headers => [ "Authorization: $creds" ])), '401', 'nc 2 again: a replay, refused');
like(wait_log($log, qr/nonce replayed/), qr/alice from 127\.0\.0\.1:\d+: nonce replayed/, 'and logged');
is(status(send_req(headers => [ 'Authorization: ' . answer(ch => $md5_ch, user => 'alice', pass => 's3cret', method => 'REGISTER', nc => '00000001') ])),
   '401', 'a lower nc: refused');
is(status(send_req(headers => [ 'Authorization: ' . answer(ch => $sha_ch, alg => 'SHA-256', user => 'alice', pass => 's3cret', method => 'REGISTER', nc => '00000003') ])),
   '200', 'SHA-256 (one nonce for both challenges: nc goes on growing): registered');
is(status(send_req(user => 'bob', headers => [ 'Authorization: ' . answer(ch => $sha_ch, alg => 'SHA-256-sess', user => 'bob', pass => 'b0bpass', method => 'REGISTER', nc => '00000004') ])),
   '200', 'SHA-256-sess for a user stored as ha1_sha256');
is(status(send_req(user => 'bob', headers => [ 'Authorization: ' . answer(ch => $md5_ch, user => 'bob', pass => 'b0bpass', method => 'REGISTER', nc => '00000009') ])),
   '200', 'MD5 for a user stored as ha1');

# 3. no enumeration: a wrong password and an unknown user look the same
my $wrong = send_req(headers => [ 'Authorization: ' . answer(ch => $md5_ch, user => 'alice', pass => 'nope', method => 'REGISTER', nc => '00000010') ]);
my $nobody = send_req(user => 'mallory', headers => [ 'Authorization: ' . answer(ch => $md5_ch, user => 'mallory', pass => 'x', method => 'REGISTER') ]);
is(status($wrong) . '/' . status($nobody), '401/401', 'wrong password and unknown user: both 401');
(my $w = $wrong) =~ s/nonce="\w+"|tag=\w+|branch=[\w-]+|CSeq: \d+|To: [^\r]*|From: [^\r]*|Call-ID: [^\r]*|Contact: [^\r]*//g;
(my $u = $nobody) =~ s/nonce="\w+"|tag=\w+|branch=[\w-]+|CSeq: \d+|To: [^\r]*|From: [^\r]*|Call-ID: [^\r]*|Contact: [^\r]*//g;
is($w, $u, 'the same answer, header for header');

# 4. forged and expired nonces
(my $forged = $md5_ch) =~ s/nonce="(\w{70})\w{10}"/nonce="${1}0123456789"/;
$r = send_req(headers => [ 'Authorization: ' . answer(ch => $forged, user => 'alice', pass => 's3cret', method => 'REGISTER') ]);
is(status($r), '401', 'a nonce with a forged MAC: refused');
unlike($r, qr/stale=true/, 'not called stale');
my $none = answer(ch => $md5_ch, user => 'alice', pass => 's3cret', method => 'MESSAGE', qop => 'none', uri => "sip:$realm");
is(status(send_req(method => 'MESSAGE', headers => [ "Authorization: $none" ])), '200', 'RFC 2069 form (no qop): accepted once');
is(status(send_req(method => 'MESSAGE', headers => [ "Authorization: $none" ])), '401', 'and not twice');
sleep 6.2;
$r = send_req(headers => [ 'Authorization: ' . answer(ch => $md5_ch, user => 'alice', pass => 's3cret', method => 'REGISTER', nc => '00000020') ]);
is(status($r), '401', 'past nonce_lifetime: refused');
like((hdrs($r, 'WWW-Authenticate'))[0] // '', qr/, stale=true$/, 'with stale=true');

# 5. own AOR only; the identity reaches the next module; 407 to forward
$r = send_req();
($md5_ch) = grep { /MD5/ } hdrs($r, 'WWW-Authenticate');
is(status(send_req(to => 'bob', headers => [ 'Authorization: ' . answer(ch => $md5_ch, user => 'alice', pass => 's3cret', method => 'REGISTER') ])),
   '403', 'alice may not register bob');
$r = send_req(method => 'MESSAGE', ruri => "sip:carol\@$realm", headers => [ 'Authorization: ' . answer(ch => $md5_ch, user => 'alice', pass => 's3cret', method => 'MESSAGE', uri => "sip:carol\@$realm", nc => '00000002') ]);
is((hdrs($r, 'X-User'))[0], 'alice', 'a MESSAGE to our domain: the next module sees who sent it');
$r = send_req(method => 'MESSAGE', ruri => 'sip:dave@elsewhere.org', body => 'hello');
is(status($r), '407', 'a MESSAGE we would forward: 407');
my ($pch) = grep { /MD5/ } hdrs($r, 'Proxy-Authenticate');
ok($pch, 'with Proxy-Authenticate');
$r = send_req(method => 'MESSAGE', ruri => 'sip:dave@elsewhere.org', body => 'hello',
              headers => [ 'Proxy-Authorization: ' . answer(ch => $pch, user => 'bob', pass => 'b0bpass', method => 'MESSAGE', uri => 'sip:dave@elsewhere.org', qop => 'auth-int', body => 'hello') ]);
is((hdrs($r, 'X-User'))[0], 'bob', 'qop=auth-int with Proxy-Authorization: accepted');
is(status(send_req(method => 'MESSAGE', ruri => 'sip:dave@elsewhere.org', body => 'hellO',
                   headers => [ 'Proxy-Authorization: ' . answer(ch => $pch, user => 'bob', pass => 'b0bpass', method => 'MESSAGE', uri => 'sip:dave@elsewhere.org', qop => 'auth-int', body => 'hello', nc => '00000002') ])),
   '407', 'auth-int over another body: refused');
is(status(send_req(method => 'MESSAGE', ruri => "sip:carol\@$realm", headers => [ 'Authorization: ' . answer(ch => $md5_ch, user => 'alice', pass => 's3cret', method => 'MESSAGE', uri => "sip:other\@$realm", nc => '00000003') ])),
   '400', 'credentials for another URI: 400');

# 6. CANCEL and ACK are never challenged
is(status(send_req(method => 'CANCEL')), '481', 'a CANCEL is not challenged (481: nothing to cancel)');
is(status(send_req(method => 'ACK', wait => 0.5)), 'none', 'an ACK gets no challenge');

# 7. the users file reloads with the config (SIGHUP)
like(slurp($log), qr/1 user\(s\) with a plaintext password/, 'a plaintext password warned about');
write_file('users.yaml', "bob: { ha1: \"$bob_ha1\" }\n");
kill 'HUP', $pid;
sleep 0.8;
$r = send_req();
($md5_ch) = grep { /MD5/ } hdrs($r, 'WWW-Authenticate');
is(status(send_req(headers => [ 'Authorization: ' . answer(ch => $md5_ch, user => 'alice', pass => 's3cret', method => 'REGISTER') ])),
   '401', 'after SIGHUP alice is gone from the users file');
is(status(send_req(user => 'bob', headers => [ 'Authorization: ' . answer(ch => $md5_ch, user => 'bob', pass => 'b0bpass', method => 'REGISTER') ])),
   '200', 'bob is still there');
is(stop_server($pid), 0, 'stopped');

# 8. with a kept secret, a restart makes old nonces stale, not usable
($pid) = start_server(port => $port, yaml => conf($port, "    secret: \"k33p\"\n"));
$r = send_req(user => 'bob');
($md5_ch) = grep { /MD5/ } hdrs($r, 'WWW-Authenticate');
is(stop_server($pid), 0, 'stopped');
($pid) = start_server(port => $port, yaml => conf($port, "    secret: \"k33p\"\n"));
$r = send_req(user => 'bob', headers => [ 'Authorization: ' . answer(ch => $md5_ch, user => 'bob', pass => 'b0bpass', method => 'REGISTER') ]);
is(status($r), '401', 'a nonce from before the restart is not accepted');
like((hdrs($r, 'WWW-Authenticate'))[0] // '', qr/stale=true/, 'it is stale (the UA retries without asking)');
is(stop_server($pid), 0, 'stopped');

my $bad;
# 8b. algorithms: [ MD5 ]: one challenge, SHA-256 credentials refused
($pid) = start_server(port => $port, yaml => conf($port, "    algorithms: [ MD5 ]\n"));
$r = send_req(user => 'bob');
my @chs = hdrs($r, 'WWW-Authenticate');
is(scalar(@chs) . ' ' . ($chs[0] =~ /algorithm=(\S+?),/ ? $1 : ''), '1 MD5', 'algorithms: [ MD5 ]: one challenge, MD5');
is(status(send_req(user => 'bob', headers => [ 'Authorization: ' . answer(ch => $chs[0], alg => 'SHA-256', user => 'bob', pass => 'b0bpass', method => 'REGISTER') ])),
   '400', 'SHA-256 credentials, not offered: 400');
is(status(send_req(user => 'bob', headers => [ 'Authorization: ' . answer(ch => $chs[0], user => 'bob', pass => 'b0bpass', method => 'REGISTER') ])),
   '200', 'MD5 ones: 200');
is(stop_server($pid), 0, 'stopped');

# 10. the defaults: one challenge, MD5 (baresip, sipp and most phones
# answer the first challenge and know MD5 only); an INVITE to a user of
# ours is challenged 407; our credentials do not travel on
my ($peer, $peerport) = udp_peer();
($pid) = start_server(port => $port, yaml => "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\n  log: { level: debug }\n"
    . "modules_path: $mods\nchain:\n  - module: digest-auth\n    realm: $realm\n    users: $users\n"
    . "  - module: registrar\n    methods: [ REGISTER ]\n    domains: [ $realm ]\n"
    . "  - module: proxy\n    routes:\n      - { user_prefix: dave, targets: [ \"sip:dave\@127.0.0.1:$peerport\" ] }\n");
$r = send_req(user => 'bob');
@chs = hdrs($r, 'WWW-Authenticate');
is(scalar(@chs) . ' ' . ($chs[0] =~ /algorithm=(\S+?),/ ? $1 : ''), '1 MD5', 'default: one challenge, MD5');
my ($mch) = grep { /algorithm=MD5/ } @chs;
is(status(send_req(user => 'bob', headers => [ 'Authorization: ' . answer(ch => $mch, user => 'bob', pass => 'b0bpass', method => 'REGISTER') ])),
   '200', 'answered as sipp and baresip answer it: registered');
$r = send_req(method => 'INVITE', user => 'bob', ruri => "sip:alice\@$realm");
is(status($r), '407', 'an INVITE to a user of our domain: 407 (it is forwarded), not 401');
like(join(' ', hdrs($r, 'Proxy-Authenticate')), qr/algorithm=MD5/, 'with Proxy-Authenticate');
$r = send_req(method => 'MESSAGE', user => 'bob', ruri => 'sip:dave@elsewhere.org', body => 'hi');
($pch) = grep { /algorithm=MD5/ } hdrs($r, 'Proxy-Authenticate');
$r = send_req(method => 'MESSAGE', user => 'bob', ruri => 'sip:dave@elsewhere.org', body => 'hi', wait => 0.3,
              headers => [ 'Proxy-Authorization: Digest username="bob", realm="other.org", nonce="n1", uri="sip:dave@elsewhere.org", response="00112233445566778899aabbccddeeff"',
                           'Proxy-Authorization: ' . answer(ch => $pch, user => 'bob', pass => 'b0bpass', method => 'MESSAGE', uri => 'sip:dave@elsewhere.org'),
                           'Authorization: ' . answer(ch => $mch, user => 'bob', pass => 'b0bpass', method => 'MESSAGE', uri => 'sip:dave@elsewhere.org', nc => '00000002') ]);
my $fwd = recv_request($peer, 'MESSAGE', 3) // '';
like($fwd, qr/^MESSAGE sip:dave\@elsewhere\.org /, 'authenticated, forwarded (to the route\'s next hop, the Request-URI kept)');
ok($fwd ne '' && $fwd !~ /realm="$realm"/, 'without the credentials for our realm (Authorization and Proxy-Authorization)');
like($fwd, qr/^Proxy-Authorization: Digest username="bob", realm="other\.org", [^\r]*\r$/m, 'another realm\'s credentials passed on untouched');
if ($fwd =~ /^Via: SIP\/2\.0\/UDP ([^;]+);branch=([^;\r]+)/m) {  # let the transaction end
    my ($via_all) = join('', map { "$_\r\n" } ($fwd =~ /^(Via: [^\r]*)\r$/mg));
    my $ok = "SIP/2.0 200 OK\r\n$via_all" . join('', map { "$_\r\n" } ($fwd =~ /^((?:From|To|Call-ID|CSeq): [^\r]*)\r$/mg)) . "Content-Length: 0\r\n\r\n";
    $peer->send($ok, 0, Socket::pack_sockaddr_in($port, Socket::inet_aton('127.0.0.1')));
}
is(stop_server($pid), 0, 'stopped');

# 9. errors and the HA1 command
$bad = write_file('auth-bad3.yaml', "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\nmodules_path: $mods\nchain:\n"
                  . "  - module: digest-auth\n    realm: x\n    algorithms: [ MD5, SHA-1 ]\n");
like(`${\ sipchain()} -t -c $bad 2>&1`, qr{auth-bad3\.yaml:7:24: algorithms are SHA-256 and MD5, not "SHA-1"}, 'an unknown algorithm: file:line:col');
$bad = write_file('auth-bad.yaml', "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\nmodules_path: $mods\nchain:\n"
                     . "  - module: digest-auth\n    users: $users\n");
like(`${\ sipchain()} -t -c $bad 2>&1`, qr{auth-bad\.yaml:5:5: digest-auth needs "realm"}, 'no realm: file:line:col');
my $bu = write_file('users-bad.yaml', "carol: { ha1: \"xyz\" }\n");
$bad = write_file('auth-bad2.yaml', "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\nmodules_path: $mods\nchain:\n"
                  . "  - module: digest-auth\n    realm: x\n    users: $bu\n");
like(`${\ sipchain()} -t -c $bad 2>&1`, qr{users-bad\.yaml:1:\d+: ha1 must be 32 hex digits}, 'a bad users file: its own file:line:col');
my $line = `echo b0bpass | ${\ sipchain()} -a bob $realm`;
is($line, "bob: { ha1: \"$bob_ha1\", ha1_sha256: \"$bob_sha\" }   # realm $realm\n", 'sipchain -a prints the HA1 line');

done_testing();
