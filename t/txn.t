# Transactions end to end over UDP (RFC 3261 §17, §9.2, RFC 6026): the
# server's answers are retransmitted and retransmissions absorbed, a
# CANCEL gets 200 and its INVITE 487, overload gets 503 + Retry-After.
# T1 is 100 ms here so the timers run fast.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time);
use SipTest;
use Socket qw(pack_sockaddr_in inet_aton);

my $build = $ENV{SC_BUILD} // 'objs';
my $mods = module_dir();

sub server {
    my ($chain, $extra) = @_;
    my $port = free_port();
    return start_server(port => $port, yaml => "server:\n  listen: [ \"udp:127.0.0.1:$port\" ]\n"
                                             . "  log: { level: debug }\n  timers: { t1: 100, t2: 400, t4: 500 }\n"
                                             . ($extra // '') . "modules_path: $mods\nchain:\n$chain");
}

my $c = udp_client();
my $me = $c->sockport;
my $port;
sub req {
    my ($method, %h) = @_;
    my $branch = $h{branch} // 'z9hG4bK-' . int(rand(1e9));
    my $cid = $h{callid} // int(rand(1e9)) . '@txn';
    my $cseqm = $h{cseq_method} // $method;
    my $to = $h{to} // 'To: <sip:svc@127.0.0.1>';
    return "$method sip:svc\@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=$branch;rport\r\n"
         . "Max-Forwards: 70\r\n$to\r\nFrom: <sip:t\@127.0.0.1>;tag=ft\r\n"
         . "Call-ID: $cid\r\nCSeq: 5 $cseqm\r\nContent-Length: 0\r\n\r\n";
}
sub send_only { $c->send($_[0], 0, pack_sockaddr_in($port, inet_aton('127.0.0.1'))) or die "send: $!" }
# every answer that arrives within $secs
sub collect {
    my ($secs) = @_;
    my @got;
    my $end = time + $secs;
    while ((my $left = $end - time) > 0) {
        my $r = recv_msg($c, $left);
        push @got, $r if defined $r;
    }
    return @got;
}

my ($pid, $log);
($pid, $port, $log) = server("  - module: t_async\n    delay_ms: 300\n");

# non-INVITE: a retransmission while the chain works is absorbed; after the
# answer it gets the same answer again (same To tag: not run twice)
my $opt = req('OPTIONS', branch => 'z9hG4bK-opt1');
send_only($opt);
send_only($opt);
# the answer comes after the module's 300 ms (later under valgrind);
# then nothing more
my @a = grep { defined } recv_msg($c, 5);
push @a, collect(0.5);
is(scalar(@a), 1, 'two copies of an OPTIONS in flight get one answer');
is(sip_status($a[0]), '404', 'the end of the chain answers it');
my $r = send_recv($c, $port, $opt, 1);
is(sip_status($r), '404', 'a retransmission after the answer gets it again');
is(sip_header($r, 'To'), sip_header($a[0], 'To'), 'the very same answer (same To tag): absorbed, not rerun');

# the end of the chain, for a request in a dialog nobody here runs
is(sip_status(send_recv($c, $port, req('INFO', to => 'To: <sip:svc@127.0.0.1>;tag=gone'), 3)), '481',
   'a To tag no dialog here has: 481, not the default 404 (RFC 3261 12.2.2)');

# INVITE with a non-2xx: retransmitted (timer G) until the ACK
my $inv = req('INVITE', branch => 'z9hG4bK-inv1');
send_only($inv);
@a = collect(0.9);
my @st = map { sip_status($_) } @a;
is($st[0], '100', 'INVITE: 100 Trying at once');
my @finals = grep { sip_status($_) eq '404' } @a;
cmp_ok(scalar(@finals), '>=', 3, 'the 404 is retransmitted without an ACK (timer G at T1, 2T1, ...)');
is(scalar(grep { sip_header($_, 'To') eq sip_header($finals[0], 'To') } @finals), scalar(@finals), 'all copies the same');
send_only(req('ACK', branch => 'z9hG4bK-inv1', to => 'To: ' . sip_header($finals[0], 'To')));
collect(0.15);      # one may have crossed the ACK
is(scalar(collect(0.6)), 0, 'the ACK stops the retransmissions');

# CANCEL: 200 to the CANCEL, 487 to the INVITE (§9.2), the module's late
# answer goes nowhere
my $cid = 'cancel-' . int(rand(1e9)) . '@txn';
send_only(req('INVITE', branch => 'z9hG4bK-inv2', callid => $cid));
is(sip_status(recv_msg($c, 1)), '100', 'INVITE to cancel: 100');
send_only(req('CANCEL', branch => 'z9hG4bK-inv2', callid => $cid));
@a = collect(0.25);
my %by = map { sip_header($_, 'CSeq') => sip_status($_) } @a;
is($by{'5 CANCEL'}, '200', 'the CANCEL gets 200');
is($by{'5 INVITE'}, '487', 'the INVITE gets 487 Request Terminated');
my ($t487) = grep { sip_status($_) eq '487' } @a;
send_only(req('ACK', branch => 'z9hG4bK-inv2', callid => $cid, to => 'To: ' . sip_header($t487, 'To')));
is(scalar(grep { sip_status($_) ne '487' } collect(0.5)), 0, 'nothing more when the module lets go late');
is(sip_status(send_recv($c, $port, req('CANCEL'), 1)), '481', 'a CANCEL matching nothing gets 481');
is(stop_server($pid), 0, 'stopped');
my $text = do { local (@ARGV, $/) = $log; <> };
like($text, qr/cancelled while with t_async: 487/, 'the cancel is logged');

# the cap on transactions in flight
($pid, $port, $log) = server("  - module: t_async\n    delay_ms: 500\n",
                             "  limits: { max_transactions: 2 }\n");
send_only(req('OPTIONS')) for 1 .. 3;
@a = collect(2);
($r) = grep { sip_status($_) eq '503' } @a;
is(sip_status($r), '503', 'over max_transactions: 503');
like($r, qr{^Retry-After: \d+\r$}m, 'with Retry-After');
is(scalar(grep { sip_status($_) eq '404' } @a), 2, 'those in flight are answered');
is(stop_server($pid), 0, 'stopped');

# timers are validated like every other key
my $bad = write_file('bad-timers.yaml', "server:\n  listen: [ \"udp:127.0.0.1:5999\" ]\n  timers: { t1: 500, t2: 100 }\n");
my $out = `${\ sipchain()} -t -c $bad 2>&1`;
like($out, qr/bad-timers\.yaml:3:\d+: "t2" must not be less than "t1"/, 't2 < t1 is refused with file:line:col');
done_testing();
