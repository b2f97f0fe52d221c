# Digest edge cases (RFC 7616) and the Server / User-Agent value:
# an expired nonce answered with a wrong password is a wrong password (a
# plain challenge, counted as wrong_credentials), with the right one it
# is stale (stale=true); nc counts on one nonce may arrive out of order
# within the window and are accepted once each, a replay of either
# refused; server.server_header sets the Server of our answers (the
# chain's and the core's own) and the User-Agent of requests we
# originate (sc_request, here t_uac), "" or false leaves both out, and
# the default is sipchain/VERSION.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use Digest::MD5 qw(md5_hex);
use IO::Socket::INET;
use Socket qw(pack_sockaddr_in inet_aton);
use SipTest;

my $mods = module_dir();
my $realm = 'example.com';
my $users = write_file('edge-users.yaml', "alice: { password: \"s3cret\" }\n");
my $port = free_port();
my $mport = free_port();
my ($peer, $peerport) = udp_peer();

sub conf {
    my ($header) = @_;
    return "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\n  log: { level: debug }\n"
         . "  metrics: { listen: \"127.0.0.1:$mport\" }\n"
         . (defined $header ? "  server_header: $header\n" : '')
         . "modules_path: $mods\nchain:\n"
         . "  - module: digest-auth\n    methods: [ REGISTER ]\n    realm: $realm\n    users: $users\n    nonce_lifetime: 5\n"
         . "  - module: registrar\n    methods: [ REGISTER ]\n    domains: [ $realm ]\n"
         . "  - module: t_uac\n";
}
my $c = udp_client();
my $me = $c->sockport;
my $n = 0;

sub send_req {
    my (%o) = @_;
    $n++;
    my $m = "REGISTER sip:$realm SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-e$n;rport\r\n"
          . "Max-Forwards: " . ($o{mf} // 70) . "\r\nTo: <sip:alice\@$realm>\r\nFrom: <sip:alice\@$realm>;tag=f$n\r\n"
          . "Call-ID: edge-alice\r\nCSeq: $n REGISTER\r\nContact: <sip:alice\@127.0.0.1:$me>\r\n"
          . ($o{auth} ? "Authorization: $o{auth}\r\n" : '')
          . "Content-Length: 0\r\n\r\n";
    my $r = send_recv($c, $port, $m, 3);
    $r = recv_msg($c, 3) while defined $r && $r =~ m{^SIP/2\.0 1};
    return $r // '';
}
sub param { my ($ch, $p) = @_; return $ch =~ /\b$p="?([^",]*)"?/ ? $1 : undef }
sub answer {
    my (%o) = @_;
    my ($nonce, $opaque) = (param($o{ch}, 'nonce'), param($o{ch}, 'opaque'));
    my $ha1 = md5_hex("alice:$realm:$o{pass}");
    my $ha2 = md5_hex("REGISTER:sip:$realm");
    my $cnonce = 'c' . int(rand(1e9));
    my $resp = md5_hex("$ha1:$nonce:$o{nc}:$cnonce:auth:$ha2");
    return "Digest username=\"alice\", realm=\"$realm\", nonce=\"$nonce\", uri=\"sip:$realm\", response=\"$resp\", "
         . "algorithm=MD5, opaque=\"$opaque\", qop=auth, nc=$o{nc}, cnonce=\"$cnonce\"";
}
sub challenge { my $r = send_req(); return (sip_header($r, 'WWW-Authenticate'), $r) }
sub slurp { local (@ARGV, $/) = $_[0]; return scalar(<>) // '' }
# the value of a counter series on /metrics (0 when absent)
sub metric {
    my ($re) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$mport", Timeout => 3) or return -1;
    print $s "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n";
    local $/;
    my $t = <$s> // '';
    return $t =~ /^$re (\d+)/m ? $1 : 0;
}
# what the server's own request (t_uac: an OPTIONS to our peer) carries
sub uac_request {
    $n++;
    my $m = "MESSAGE sip:svc\@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-u$n;rport\r\n"
          . "Max-Forwards: 70\r\nTo: <sip:svc\@127.0.0.1>\r\nFrom: <sip:t\@127.0.0.1>;tag=u$n\r\n"
          . "Call-ID: uac-$n\r\nCSeq: 1 MESSAGE\r\nX-Target: sip:peer\@127.0.0.1:$peerport\r\nContent-Length: 0\r\n\r\n";
    $c->send($m, 0, pack_sockaddr_in($port, inet_aton('127.0.0.1')));
    my $req = recv_request($peer, 'OPTIONS', 3) // '';
    if ($req ne '') {       # answered, so the transaction ends
        my $ok = "SIP/2.0 200 OK\r\n" . join('', map { "$_\r\n" } ($req =~ /^((?:Via|From|To|Call-ID|CSeq): [^\r]*)\r$/mg))
               . "Content-Length: 0\r\n\r\n";
        $peer->send($ok, 0, pack_sockaddr_in($port, inet_aton('127.0.0.1')));
    }
    recv_msg($c, 3);        # t_uac's 200 to the MESSAGE
    return $req;
}

my ($pid, undef, $log) = start_server(port => $port, yaml => conf('"Acme SBC/2.1 (edge)"'));

# 1. nc out of order on one nonce: each once, replays refused
my ($ch) = challenge();
ok($ch, 'a challenge');
is(sip_status(send_req(auth => answer(ch => $ch, pass => 's3cret', nc => '00000002'))), '200', 'nc 2 first: accepted');
is(sip_status(send_req(auth => answer(ch => $ch, pass => 's3cret', nc => '00000001'))), '200', 'then nc 1 (pipelined, overtaken): accepted');
is(sip_status(send_req(auth => answer(ch => $ch, pass => 's3cret', nc => '00000001'))), '401', 'nc 1 again: a replay, refused');
is(sip_status(send_req(auth => answer(ch => $ch, pass => 's3cret', nc => '00000002'))), '401', 'nc 2 again: a replay, refused');
is(sip_status(send_req(auth => answer(ch => $ch, pass => 's3cret', nc => '00000050'))), '200', 'nc 0x50: accepted');
is(sip_status(send_req(auth => answer(ch => $ch, pass => 's3cret', nc => '00000030'))), '200', 'nc 0x30, within the window below it: accepted');
is(sip_status(send_req(auth => answer(ch => $ch, pass => 's3cret', nc => '00000003'))), '401', 'nc 3, out of the window: refused');
like(wait_log($log, qr/nonce replayed \(nc 00000003\)/), qr/nonce replayed \(nc 00000003\)/, 'logged as a replay');

# 2. an expired nonce: wrong password -> a wrong password, right -> stale
my ($old) = challenge();
my $wrong0 = metric('sipchain_auth_failures_total\{reason="wrong_credentials",link="1"\}');
my $stale0 = metric('sipchain_auth_failures_total\{reason="stale_nonce",link="1"\}');
sleep 6.2;
my $r = send_req(auth => answer(ch => $old, pass => 'guess', nc => '00000001'));
is(sip_status($r), '401', 'a wrong password with an expired nonce: 401');
my $w = sip_header($r, 'WWW-Authenticate');
like($w, qr/^Digest realm="$realm", nonce="[0-9a-f]{80}"/, 'a fresh challenge');
unlike($w, qr/stale/, 'not stale=true (the UA must ask its user, not retry)');
like(wait_log($log, qr/authentication failed for alice/), qr/authentication failed for alice from 127\.0\.0\.1/, 'logged as a failed authentication');
is(metric('sipchain_auth_failures_total\{reason="wrong_credentials",link="1"\}') - $wrong0, 1, 'counted as wrong_credentials');
is(metric('sipchain_auth_failures_total\{reason="stale_nonce",link="1"\}') - $stale0, 0, 'not as stale_nonce');
$r = send_req(auth => answer(ch => $old, pass => 's3cret', nc => '00000001'));
is(sip_status($r), '401', 'the right password with the expired nonce: 401');
like(sip_header($r, 'WWW-Authenticate'), qr/, stale=true$/, 'with stale=true');
is(metric('sipchain_auth_failures_total\{reason="stale_nonce",link="1"\}') - $stale0, 1, 'counted as stale_nonce');
($ch) = challenge();
is(sip_status(send_req(auth => answer(ch => $ch, pass => 's3cret', nc => '00000001'))), '200', 'the retry with the new nonce: 200');

# 3. server_header: the Server of every answer, the User-Agent of ours
my $ans;
(undef, $ans) = challenge();
is(sip_header($ans, 'Server'), 'Acme SBC/2.1 (edge)', 'a module\'s answer: the configured Server');
$ans = send_req(mf => 0);
is(sip_status($ans) . ' ' . sip_header($ans, 'Server'), '483 Acme SBC/2.1 (edge)', 'the core\'s own answer (483) too');
is(sip_header(uac_request(), 'User-Agent'), 'Acme SBC/2.1 (edge)', 'a request of ours: the same User-Agent');
is(stop_server($pid), 0, 'stopped');

for my $off ('""', 'false') {
    ($pid) = start_server(port => $port, yaml => conf($off));
    (undef, $ans) = challenge();
    ok($ans =~ /^SIP\/2\.0 401/ && $ans !~ /^Server:/mi, "server_header: $off: no Server header");
    my $u = uac_request();
    ok($u =~ /^OPTIONS / && $u !~ /^User-Agent:/mi, "server_header: $off: no User-Agent either");
    is(stop_server($pid), 0, 'stopped');
}
($pid) = start_server(port => $port, yaml => conf());
(undef, $ans) = challenge();
like(sip_header($ans, 'Server'), qr{^sipchain/\d}, 'by default: Server: sipchain/VERSION');
like(sip_header(uac_request(), 'User-Agent'), qr{^sipchain/\d}, 'and User-Agent: sipchain/VERSION');
is(stop_server($pid), 0, 'stopped');

my $bad = write_file('edge-bad.yaml', "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\n  server_header: \"a\\r\\nX-Evil: 1\"\n");
like(`${\ sipchain()} -t -c $bad 2>&1`, qr{edge-bad\.yaml:3:\d+: "server_header" must not hold control characters}, 'a header break in the value: refused');

done_testing();
