# Overload sheds new work, never work in progress: over max_transactions
# (transactions with no final answer yet) a new request gets 503 with
# Retry-After, while CANCEL and requests inside a dialog are admitted;
# transactions that only wait out their timers do not count; the log
# says so once a second, not once a request.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use Socket qw(pack_sockaddr_in inet_aton);
use Time::HiRes qw(time sleep);
use SipTest;

my $mods = module_dir();
my $port = free_port();
my $mport = free_port();
my ($pid, undef, $log) = start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port" ]
  log: { level: info }
  timers: { t1: 100, t2: 400, t4: 500 }
  limits: { max_transactions: 4 }
  metrics: { listen: "127.0.0.1:$mport" }
modules_path: $mods
chain:
  - module: t_async
    delay_ms: 1500
  - module: options
Y
my $srv = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
my $c = udp_client();
my $me = $c->sockport;
my $n = 0;
sub req {
    my ($method, %o) = @_;
    $n++;
    my $to = "<sip:127.0.0.1:$port>" . ($o{to_tag} ? ";tag=$o{to_tag}" : '');
    return "$method sip:127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-ov$n;rport\r\n"
         . "Max-Forwards: 70\r\nTo: $to\r\nFrom: <sip:a\@example.com>;tag=a$n\r\nCall-ID: ov-$n\r\n"
         . "CSeq: 1 $method\r\nContent-Length: 0\r\n\r\n";
}
sub metric { return metric_value($mport, $_[0]) }
sub answers {        # every answer within secs, by Call-ID
    my ($secs) = @_;
    my %a;
    my $end = time + $secs;
    while ((my $l = $end - time) > 0) { my $r = recv_msg($c, $l) // last; $a{sip_header($r, 'Call-ID')} = $r }
    return %a;
}

$c->send(req('OPTIONS'), 0, $srv) for 1 .. 4;          # held by t_async: 4 unanswered
sleep 0.2;
is(metric('sipchain_transactions_unanswered'), 4, 'four requests in progress');
$c->send(req('OPTIONS'), 0, $srv);                      # a fifth new one
my $over = "ov-$n";
$c->send(req('INFO', to_tag => 'dlg1'), 0, $srv);      # inside a dialog
my $indlg = "ov-$n";
$c->send(req('CANCEL'), 0, $srv);                       # a CANCEL
my $cancel = "ov-$n";
my %a = answers(0.5);
like($a{$over} // '', qr{^SIP/2\.0 503 Service Unavailable \(overloaded\)\r\n}, 'a new request over the limit: 503');
is(sip_header($a{$over}, 'Retry-After'), '5', 'with Retry-After');
is(sip_status($a{$cancel}), '481', 'a CANCEL is admitted (and answered: nothing to cancel)');
ok(!exists $a{$indlg} || sip_status($a{$indlg}) eq '100', 'a request inside a dialog is admitted: held like the rest (at most a 100), not refused');
%a = answers(2);
is(sip_status($a{$indlg}), '481', 'and answered once the chain is through with it (no such dialog)');
is(scalar(grep { sip_status($_) eq '200' } values %a), 4, 'the four in progress answered');

# answered transactions waiting out timer J do not count
is(metric('sipchain_transactions_unanswered'), 0, 'nothing unanswered now');
ok(metric('sipchain_transactions') >= 4, 'though the answered ones still wait out their timers');
$c->send(req('OPTIONS'), 0, $srv) for 1 .. 4;
%a = answers(0.5);
is(scalar(grep { sip_status($_) eq '503' } values %a), 0, 'four new requests admitted beside them');

# a burst over the limit: counted, logged once a second
$c->send(req('OPTIONS'), 0, $srv) for 1 .. 30;
%a = answers(0.5);
is(scalar(grep { sip_status($_) eq '503' } values %a), 30, 'thirty more refused');
sleep 2;
answers(0.2);
my $t = wait_log($log, qr/unanswered: 503/);
my @lines = $t =~ /(max_transactions \(4\) unanswered: 503 to \d+ new request)/g;
ok(@lines >= 1 && @lines <= 3, 'the refusals make at most a line a second (' . scalar(@lines) . ')');
is(metric('sipchain_overload_rejected_total'), 31, 'and every one is counted');
is(stop_server($pid), 0, 'clean stop');
done_testing();
