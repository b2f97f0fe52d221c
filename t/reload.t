# SIGHUP reload, the nginx way: a new chain beside the old, swapped only
# when it starts; a bad config keeps the old one; listeners kept, added,
# closed; requests in flight finish on their chain; no failed transaction
# under continuous traffic.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Socket qw(pack_sockaddr_in inet_aton);
use Time::HiRes qw(sleep time);
use SipTest;

my $build = $ENV{SC_BUILD} // 'objs';
my $mods = tmpdir() . '/modules';
mkdir $mods;
for my $so (glob("$build/modules/*.so"), glob("$build/t/modules/*.so")) {
    (my $name = $so) =~ s{.*/}{};
    symlink(($so =~ m{^/} ? $so : "$ENV{PWD}/$so"), "$mods/$name") or die;
}
my ($p1, $p2) = (free_port(), free_port());
my $conf;
sub yaml {
    my ($listen, $chain) = @_;
    return "server:\n  listen: [ $listen ]\n  log: { level: info }\nmodules_path: $mods\nchain:\n$chain";
}
my ($pid, undef, $log) = start_server(port => $p1, yaml => yaml("\"udp:127.0.0.1:$p1\"",
    "  - module: t_mark\n    mark: A\n  - module: options\n"));
($conf = $log) =~ s/\.log$/.yaml/;

sub rewrite { my ($text) = @_; open my $fh, '>', $conf or die; print $fh $text; close $fh }
sub hup_and_wait {
    my ($what) = @_;
    my $before = -s $log;
    kill 'HUP', $pid;
    my $deadline = time + 5;
    while (time < $deadline) {
        open my $fh, '<', $log or die;
        seek $fh, $before, 0;
        local $/;
        my $new = <$fh> // '';
        return $new if $new =~ /$what/;
        sleep 0.05;
    }
    return '';
}
my $c = udp_client();
my $me = $c->sockport;
sub req {
    return "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-" . int(rand(1e9))
         . ";rport\r\nMax-Forwards: 70\r\nTo: <sip:127.0.0.1>\r\nFrom: <sip:t\@127.0.0.1>;tag=1\r\n"
         . "Call-ID: " . int(rand(1e9)) . "\@reload\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
}

like(send_recv($c, $p1, req()) // '', qr/^X-Mark: A\r$/m, 'the first config runs');

rewrite(yaml("\"udp:127.0.0.1:$p1\"", "  - module: t_mark\n    mark: B\n  - module: options\n"));
like(hup_and_wait(qr/reloaded/), qr/reloaded/, 'SIGHUP reloads');
like(send_recv($c, $p1, req()) // '', qr/^X-Mark: B\r$/m, 'the new chain answers');

rewrite(yaml("\"udp:127.0.0.1:$p1\"", "  - module: nosuchmodule\n"));
like(hup_and_wait(qr/reload failed/), qr/reload failed, keeping the running configuration: .*unknown module "nosuchmodule"/,
     'a bad config is refused with its reason');
like(send_recv($c, $p1, req()) // '', qr/^X-Mark: B\r$/m, 'and the running config keeps serving');

rewrite("server: [\n");
like(hup_and_wait(qr/reload failed/), qr/reload failed/, 'a YAML error too');
like(send_recv($c, $p1, req()) // '', qr/^X-Mark: B\r$/m, 'still serving');

# listeners: add one, then drop the first
rewrite(yaml("\"udp:127.0.0.1:$p1\", \"udp:127.0.0.1:$p2\"", "  - module: options\n"));
hup_and_wait(qr/reloaded/);
like(send_recv($c, $p2, req()) // '', qr{^SIP/2\.0 200}, 'an added listener answers');
like(send_recv($c, $p1, req()) // '', qr{^SIP/2\.0 200}, 'the kept one still answers');
rewrite(yaml("\"udp:127.0.0.1:$p2\"", "  - module: options\n"));
hup_and_wait(qr/reloaded/);
is(send_recv($c, $p1, req(), 0.5), undef, 'a removed listener is closed');
like(send_recv($c, $p2, req()) // '', qr{^SIP/2\.0 200}, 'the other stays');

# a request in flight finishes on the chain it started on
rewrite(yaml("\"udp:127.0.0.1:$p2\"", "  - module: t_async\n    delay_ms: 800\n  - module: t_mark\n    mark: OLD\n  - module: options\n"));
hup_and_wait(qr/reloaded/);
$c->send(req(), 0, pack_sockaddr_in($p2, inet_aton('127.0.0.1')));
rewrite(yaml("\"udp:127.0.0.1:$p2\"", "  - module: t_mark\n    mark: NEW\n  - module: options\n"));
hup_and_wait(qr/reloaded/);
like(send_recv($c, $p2, req()) // '', qr/^X-Mark: NEW\r$/m, 'new requests take the new chain');
like(recv_msg($c, 3) // '', qr/^X-Mark: OLD\r$/m, 'the one in flight completed on the old chain');

# continuous traffic across reloads: sipp must see no failed call
my ($sipp) = grep { -x } map { "$_/sipp" } split /:/, $ENV{PATH};
SKIP: {
    skip 'sipp missing', 1 unless $sipp;
    my $dir = tmpdir();
    my $local = free_port();
    my $spid = fork() // die;
    if ($spid == 0) {
        exec("cd $dir && $sipp -sf $ENV{PWD}/t/sipp/options200.xml -m 900 -r 150 -i 127.0.0.1 -p $local "
           . "-timeout 30s -timeout_error -nostdin 127.0.0.1:$p2 >sipp-reload.out 2>&1");
    }
    for my $k (1 .. 6) {
        sleep 0.6;
        rewrite(yaml("\"udp:127.0.0.1:$p2\"", "  - module: t_mark\n    mark: R$k\n  - module: options\n"));
        kill 'HUP', $pid;
    }
    waitpid($spid, 0);
    is($? >> 8, 0, '900 OPTIONS across six reloads: no failed transaction')
        or diag(do { local (@ARGV, $/) = "$dir/sipp-reload.out"; <> });
}
is(stop_server($pid), 0, 'stopped');
done_testing();
