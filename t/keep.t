# A reload keeps state (sc_kept): with no persist log, a registration
# made before a SIGHUP is still there after it (found by the proxy, and
# in the gauges), a nonce handed out before it still authenticates after
# it (and a replay of it is still refused), across a reload that changes
# the registrar's own settings too; a reload that takes the registrar
# out of the chain lets its bindings go, gauges included (they leave the
# page: no link holds them).
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
sub gauge { return metric_value($mport, $_[0] . '{link="2"}') }   # the registrar: link 2

my $ch = register();
is(sip_status($ch), '401', 'bob is challenged');
my $www = sip_header($ch, 'WWW-Authenticate');
is(sip_status(register(digest($www, '00000001'))), '200', 'and registers');
is(gauge('sipchain_registrar_bindings'), 1, 'one binding');

# a reload that takes the registrar out lets its bindings go
ok(reload(yaml(1, 0)), 'a reload without the registrar');
my $end = time + 5;                   # the old chain goes at the reaper's next second
sleep 0.2 while defined gauge('sipchain_registrar_bindings') && time < $end;
is(gauge('sipchain_registrar_bindings'), undef, 'its bindings gauge is gone from the page');
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
done_testing();
