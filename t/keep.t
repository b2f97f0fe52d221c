# A reload keeps state (sc_kept): with no persist log, a registration
# made before a SIGHUP is still there after it (found by the proxy, and
# in the gauges), a nonce handed out before it still authenticates after
# it (and a replay of it is still refused), across a reload that changes
# the registrar's own settings too; a reload that takes the registrar
# out of the chain lets its bindings go, gauges included.  A reload to
# another persist log while the old chain still runs: the gauges follow
# the new registrar's store only, then and after the old one goes.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Digest::MD5 qw(md5_hex);
use Socket qw(pack_sockaddr_in inet_aton);
use Time::HiRes qw(time sleep);
use SipTest;

my $mods = module_dir();
my $port = free_port();
my $mport = free_port();
my $realm = 'example.com';
my $users = write_file('users.yaml', "bob: { password: \"b0bpass\" }\n");
sub yaml {
    my ($min_expires, $with_registrar) = @_;
    my $reg = $with_registrar ? "  - module: registrar\n    methods: [ REGISTER ]\n    domains: [ $realm ]\n"
                              . "    min_expires: $min_expires\n" : '';
    return "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\n  log: { level: info }\n"
         . "  timers: { t1: 100, t2: 400, t4: 500 }\n  metrics: { listen: \"127.0.0.1:$mport\" }\n"
         . "modules_path: $mods\nchain:\n  - module: digest-auth\n    realm: $realm\n    users: $users\n"
         . "    methods: [ REGISTER ]\n$reg  - module: proxy\n";
}
my ($pid, undef, $log) = start_server(port => $port, yaml => yaml(1, 1));
my $srv = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
my ($bob, $bobport) = udp_peer();
my $n = 0;
sub register {
    my (@h) = @_;
    $n++;
    $bob->send("REGISTER sip:$realm SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$bobport;branch=z9hG4bK-kp$n;rport\r\n"
             . "Max-Forwards: 70\r\nTo: <sip:bob\@$realm>\r\nFrom: <sip:bob\@$realm>;tag=k$n\r\nCall-ID: keep-reg\r\n"
             . "CSeq: $n REGISTER\r\nContact: <sip:bob\@127.0.0.1:$bobport>\r\nExpires: 300\r\n"
             . join('', map { "$_\r\n" } @h) . "Content-Length: 0\r\n\r\n", 0, $srv) or die;
    while (defined(my $r = recv_msg($bob, 3))) { return $r if sip_status($r) =~ /^[2-6]/ }
    return undef;
}
sub param { my ($h, $p) = @_; return $h =~ /$p="([^"]*)"/ ? $1 : '' }
sub digest {
    my ($ch, $nc) = @_;
    my ($nonce, $opaque) = (param($ch, 'nonce'), param($ch, 'opaque'));
    my $cnonce = 'c' . int(rand(1e6));
    my $ha1 = md5_hex("bob:$realm:b0bpass");
    my $ha2 = md5_hex("REGISTER:sip:$realm");
    my $resp = md5_hex("$ha1:$nonce:$nc:$cnonce:auth:$ha2");
    return "Authorization: Digest username=\"bob\", realm=\"$realm\", nonce=\"$nonce\", uri=\"sip:$realm\", "
         . "response=\"$resp\", algorithm=MD5, opaque=\"$opaque\", qop=auth, nc=$nc, cnonce=\"$cnonce\"";
}
sub reload {
    my ($yaml) = @_;
    write_file("sipchain-$port.yaml", $yaml);
    my $before = () = (do { local (@ARGV, $/) = $log; <> } // '') =~ /reloaded/g;
    kill 'HUP', $pid;
    my $end = time + 10;
    while (time < $end) {
        my $now = () = (do { local (@ARGV, $/) = $log; <> } // '') =~ /reloaded/g;
        return 1 if $now > $before;
        sleep 0.05;
    }
    return 0;
}
sub bob_reached {
    my ($c, $cid) = (udp_client(), "keep-inv-" . ++$n);
    my $me = $c->sockport;
    $c->send("INVITE sip:bob\@$realm SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-ki$n;rport\r\n"
           . "Max-Forwards: 70\r\nTo: <sip:bob\@$realm>\r\nFrom: <sip:c\@$realm>;tag=c$n\r\nCall-ID: $cid\r\n"
           . "CSeq: 1 INVITE\r\nContact: <sip:c\@127.0.0.1:$me>\r\nContent-Length: 0\r\n\r\n", 0, $srv);
    my $inv = recv_request($bob, 'INVITE', 3) // return 0;
    my $out = "SIP/2.0 486 Busy Here\r\n";
    $out .= "$1\r\n" while $inv =~ /^((?:Via|From|Call-ID|CSeq): [^\r]*)\r$/mg;
    $bob->send("${out}To: <sip:bob\@$realm>;tag=b$n\r\nContent-Length: 0\r\n\r\n", 0, $srv);
    return 1;
}
sub gauge { return metric_value($mport, $_[0]) // -1 }

my $ch = register();
is(sip_status($ch), '401', 'bob is challenged');
my $www = sip_header($ch, 'WWW-Authenticate');
is(sip_status(register(digest($www, '00000001'))), '200', 'and registers');
is(gauge('sipchain_registrar_bindings'), 1, 'one binding');

# a reload that takes the registrar out lets its bindings go
ok(reload(yaml(1, 0)), 'a reload without the registrar');
my $end = time + 5;                   # the old chain goes at the reaper's next second
sleep 0.2 while gauge('sipchain_registrar_bindings') != 0 && time < $end;
is(gauge('sipchain_registrar_bindings'), 0, 'its bindings are gone from the gauge');
ok(reload(yaml(1, 1)), 'and with it again');
is(gauge('sipchain_registrar_bindings'), 0, 'a registrar added anew starts empty');

# a reload that keeps it keeps its state
is(sip_status(register(digest($www, '00000002'))), '200', 'bob registers again');
is(gauge('sipchain_registrar_bindings'), 1, 'one binding');
ok(reload(yaml(1, 1)), 'SIGHUP: reloaded');
ok(bob_reached(), 'after the reload bob is still found (no persist log)');
is(gauge('sipchain_registrar_bindings'), 1, 'and the gauge still says one');
is(sip_status(register(digest($www, '00000003'))), '200', 'a nonce of before the reloads still authenticates');
is(sip_status(register(digest($www, '00000003'))), '401', 'and a replay of it is still refused');
ok(reload(yaml(30, 1)), 'a reload that changes the registrar\'s settings');
ok(bob_reached(), 'keeps the binding too');
is(gauge('sipchain_registrar_bindings'), 1, 'one binding');
is(stop_server($pid), 0, 'clean stop');

# a reload that changes the log's path (a new store, read from that
# log) while a request holds the old chain: both registrars run side by
# side for a while, and the gauges say the new one's bindings
# throughout, not one store's then the other's, nor 0 when the old goes
{
    my $port2 = free_port();
    my $m2 = free_port();
    my ($log1, $log2) = map { tmpdir() . "/bindings-$_.log" } 1, 2;
    my $far = int(time) + 3600;
    write_file('bindings-2.log', join('', map { "+ sip:$_\@example.com sip:$_\@127.0.0.1:9 $far -1 1 -1 c-$_ - - -\n" } qw(carol dave)));
    sub paths {
        my ($path) = @_;
        return "server:\n  listen: [ \"udp:127.0.0.1:$port2\" ]\n  log: { level: info }\n"
             . "  metrics: { listen: \"127.0.0.1:$m2\" }\nmodules_path: $mods\nchain:\n"
             . "  - module: registrar\n    domains: [ example.com ]\n    persist: $path\n"
             . "  - module: t_async\n    methods: [ OPTIONS ]\n    delay_ms: 2500\n  - module: options\n";
    }
    my ($pid2, undef, $log2x) = start_server(port => $port2, yaml => paths($log1));
    my $c = udp_client();
    my $me = $c->sockport;
    my $r = send_recv($c, $port2, "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-pa1;rport\r\n"
        . "Max-Forwards: 70\r\nTo: <sip:bob\@example.com>\r\nFrom: <sip:bob\@example.com>;tag=p1\r\nCall-ID: paths-1\r\n"
        . "CSeq: 1 REGISTER\r\nContact: <sip:bob\@127.0.0.1:$me>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n");
    is(sip_status($r), '200', 'bob registers (log 1)');
    is(metric_value($m2, 'sipchain_registrar_bindings'), 1, 'one binding');
    # an OPTIONS held 2.5 s by the old chain keeps it (and its registrar) running
    $c->send("OPTIONS sip:127.0.0.1:$port2 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-pa2;rport\r\n"
           . "Max-Forwards: 70\r\nTo: <sip:x\@example.com>\r\nFrom: <sip:y\@example.com>;tag=p2\r\nCall-ID: paths-2\r\n"
           . "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", 0, pack_sockaddr_in($port2, inet_aton('127.0.0.1')));
    sleep 0.2;
    ($pid, $log, $port) = ($pid2, $log2x, $port2);
    ok(reload(paths($log2)), 'a reload to log 2 (two bindings in it) while a request holds the old chain');
    my @seen = map { sleep 0.03; metric_value($m2, 'sipchain_registrar_bindings') // -1 } 1 .. 25;
    is(join(' ', @seen), join(' ', (2) x 25), 'both registrars running: the gauge says the new store\'s two, steadily');
    like(recv_msg($c, 5) // '', qr{^SIP/2\.0 200}, 'the held request is answered: the old chain goes');
    # the old chain is freed at the reaper's next second: watch across it
    @seen = map { sleep 0.05; metric_value($m2, 'sipchain_registrar_bindings') // -1 } 1 .. 30;
    is(join(' ', @seen), join(' ', (2) x 30), 'and when the old store goes, still two (not 0)');
    is(stop_server($pid2), 0, 'clean stop');
}
done_testing();
