# A reload keeps state (sc_kept): with no persist log, a registration
# made before a SIGHUP is still there after it (found by the proxy, and
# in the gauges), a nonce handed out before it still authenticates after
# it (and a replay of it is still refused), across a reload that changes
# the registrar's own settings too; a reload that takes the registrar
# out of the chain lets its bindings go, gauges included (they leave the
# page: no link holds them).  Reloads that
# add, move or drop `persist` keep every binding; the log follows the
# running configuration (and stays with it when a reload fails), and is
# written afresh when `sipchain -t` replaced the file under it.
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
# SIGHUP with yaml: "reloaded" or "reload failed" once the log says
# which, '' when it says neither
sub reload {
    my ($yaml) = @_;
    write_file("sipchain-$port.yaml", $yaml);
    my $before = () = (do { local (@ARGV, $/) = $log; <> } // '') =~ /reloaded|reload failed/g;
    kill 'HUP', $pid;
    my $end = time + 10;
    while (time < $end) {
        my @now = (do { local (@ARGV, $/) = $log; <> } // '') =~ /(reloaded|reload failed)/g;
        return $now[-1] if @now > $before;
        sleep 0.05;
    }
    return '';
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

# `persist` added, moved, dropped by reloads: the bindings stay, and the
# log follows the running configuration: written afresh from memory
# when it moves (what the file held is replaced), back to the running
# one's when a reload fails; a restart replays it.  With a request
# holding the old chain (both registrars running for a while) the
# gauges say the bindings steadily, not 0 when the old one goes.
{
    my $port2 = free_port();
    my $m2 = free_port();
    my ($log1, $log2, $log3) = map { tmpdir() . "/bindings-$_.log" } 1, 2, 3;
    my $far = int(time) + 3600;
    write_file('bindings-2.log', join('', map { "+ sip:$_\@example.com sip:$_\@127.0.0.1:9 $far -1 1 -1 c-$_ - - -\n" } qw(carol dave)));
    sub paths {
        my ($path, $broken) = @_;
        return "server:\n  listen: [ \"udp:127.0.0.1:$port2\" ]\n  log: { level: info }\n"
             . "  metrics: { listen: \"127.0.0.1:$m2\" }\nmodules_path: $mods\nchain:\n"
             . "  - module: registrar\n    domains: [ example.com ]\n" . ($path ? "    persist: $path\n" : '')
             . "  - module: t_async\n    methods: [ OPTIONS ]\n    delay_ms: 2500\n  - module: options\n"
             . ($broken ? "  - module: nosuchmodule\n" : '');
    }
    my ($pid2, undef, $log2x) = start_server(port => $port2, yaml => paths(undef));
    ($pid, $log, $port) = ($pid2, $log2x, $port2);
    my $c = udp_client();
    my $me = $c->sockport;
    my $k = 0;
    my $reg = sub {
        my ($user) = @_;
        $k++;
        return sip_status(send_recv($c, $port2, "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-pa$k;rport\r\n"
            . "Max-Forwards: 70\r\nTo: <sip:$user\@example.com>\r\nFrom: <sip:$user\@example.com>;tag=p$k\r\nCall-ID: paths-$user\r\n"
            . "CSeq: $k REGISTER\r\nContact: <sip:$user\@127.0.0.1:$me>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n"));
    };
    my $logged = sub { my ($f) = @_; my $t = do { local (@ARGV, $/) = $f; <> } // ''; my %u = map { $_ => 1 } $t =~ /^\+ sip:(\w+)\@/mg;
        my @gone = $t =~ /^- sip:(\w+)\@/mg; delete @u{@gone}; return join(' ', sort keys %u) };
    my $gauge = sub { metric_value($m2, 'sipchain_registrar_bindings{link="1"}') // -1 };
    is($reg->('bob'), '200', 'bob registers (no persist)');
    ok(reload(paths($log1)), 'a reload adds persist');
    is($logged->($log1), 'bob', 'the log is written from memory: bob is in it');
    is($gauge->(), 1, 'one binding');
    is($reg->('erin'), '200', 'erin registers');
    is($logged->($log1), 'bob erin', 'and is logged');
    # an OPTIONS held 2.5 s by the old chain keeps it (and its registrar) running
    $c->send("OPTIONS sip:127.0.0.1:$port2 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-pah;rport\r\n"
           . "Max-Forwards: 70\r\nTo: <sip:x\@example.com>\r\nFrom: <sip:y\@example.com>;tag=ph\r\nCall-ID: paths-held\r\n"
           . "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", 0, pack_sockaddr_in($port2, inet_aton('127.0.0.1')));
    sleep 0.2;
    ok(reload(paths($log2)), 'a reload moves the log (to a file holding other bindings) while a request holds the old chain');
    is($logged->($log2), 'bob erin', 'the new log holds the bindings in memory (not what the file held)');
    my @seen = map { sleep 0.03; $gauge->() } 1 .. 25;
    is(join(' ', @seen), join(' ', (2) x 25), 'both registrars running: the gauge says two, steadily');
    like(recv_msg($c, 5) // '', qr{^SIP/2\.0 200}, 'the held request is answered: the old chain goes');
    # the old chain is freed at the reaper's next second: watch across it
    @seen = map { sleep 0.05; $gauge->() } 1 .. 30;
    is(join(' ', @seen), join(' ', (2) x 30), 'and when it goes, still two');
    is(reload(paths($log3, 1)), 'reload failed', 'a reload to a third log that fails (an unknown module after the registrar)');
    is($reg->('frank'), '200', 'frank registers');
    is($logged->($log2) . ' / ' . $logged->($log3), 'bob erin frank / bob erin',
       'logged where the running configuration says, not in the failed one\'s log');
    ok(reload(paths(undef)), 'a reload drops persist');
    is($reg->('gina'), '200', 'gina registers');
    is($gauge->(), 4, 'no binding lost: four');
    is($logged->($log2), 'bob erin frank', 'the old log is left as it was');
    ok(reload(paths($log2)), 'and a reload takes it up again');
    is($logged->($log2), 'bob erin frank gina', 'written afresh from memory');
    is(stop_server($pid2), 0, 'clean stop');
    ($pid2, undef, $log2x) = start_server(port => $port2, yaml => paths($log2));
    is($gauge->(), 4, 'a restart replays it: four bindings');
    is(stop_server($pid2), 0, 'clean stop');
}
# `sipchain -t` reads the log and compacts it: a new file at its path
# while the server appends to the one it opened.  systemctl reload runs
# it before each SIGHUP: what registers after must still be in the log a
# restart replays (the server writes the log afresh when the file at its
# path is no longer its own: at a reload, and within a second).
{
    my $port3 = free_port();
    my $m3 = free_port();
    my $blog = tmpdir() . '/bindings-t.log';
    my $yaml = "server:\n  listen: [ \"udp:127.0.0.1:$port3\" ]\n  log: { level: info }\n"
             . "  metrics: { listen: \"127.0.0.1:$m3\" }\nmodules_path: $mods\nchain:\n"
             . "  - module: registrar\n    domains: [ example.com ]\n    persist: $blog\n";
    my ($pid3, undef, $log3) = start_server(port => $port3, yaml => $yaml);
    my $conf3 = tmpdir() . "/sipchain-$port3.yaml";
    ($pid, $log, $port) = ($pid3, $log3, $port3);
    my $c = udp_client();
    my $me = $c->sockport;
    my $k = 0;
    my $reg = sub {
        my ($user) = @_;
        $k++;
        return sip_status(send_recv($c, $port3, "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-tt$k;rport\r\n"
            . "Max-Forwards: 70\r\nTo: <sip:$user\@example.com>\r\nFrom: <sip:$user\@example.com>;tag=t$k\r\nCall-ID: tt-$user\r\n"
            . "CSeq: $k REGISTER\r\nContact: <sip:$user\@127.0.0.1:$me>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n"));
    };
    is($reg->('bob'), '200', 'bob registers (logged)');
    is(system(sipchain() . " -t -c $conf3 >/dev/null 2>&1"), 0, 'sipchain -t on the running configuration');
    is(reload($yaml), 'reloaded', 'then SIGHUP (systemctl reload)');
    is($reg->('carol'), '200', 'carol registers after it');
    is(system(sipchain() . " -t -c $conf3 >/dev/null 2>&1"), 0, 'sipchain -t alone');
    is($reg->('dave'), '200', 'dave registers after it');
    wait_log($log3, qr/replaced or moved.*\n(?s:.*)replaced or moved/, 5);     # the second check
    is(stop_server($pid3), 0, 'clean stop');
    ($pid3) = start_server(port => $port3, yaml => $yaml);
    is(metric_value($m3, 'sipchain_registrar_bindings{link="1"}'), 3, 'a restart replays all three bindings');
    is(stop_server($pid3), 0, 'clean stop');
}
done_testing();
