# A flood of bad requests is not a flood of log lines: at most 10
# "bad request" lines a second, the count of those not logged riding on
# the next line; the parse-error metric counts every one.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Socket qw(pack_sockaddr_in inet_aton);
use Time::HiRes qw(sleep);
use SipTest;

my $port = free_port();
my $mport = free_port();
my ($pid, undef, $log) = start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port" ]
  log: { level: info }
  metrics: { listen: "127.0.0.1:$mport" }
Y
my $c = udp_client();
my $srv = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
my $n = 200;
# garbage with a request line the parser rejects: dropped, no answer
$c->send("GARBAGE $_ xxxxxxxx\r\n\r\n", 0, $srv) for 1 .. $n;
my $series = 'sipchain_sip_parse_errors_total{status="400",reason="Malformed SIP-Version in Request-Line"}';
my $counted = 0;
for (1 .. 40) { $counted = metric_value($mport, $series) // 0; last if $counted >= $n; sleep 0.05 }
is($counted, $n, 'every bad request is counted');
# a second later, the next one says how many were not logged
sleep 1.1;
$c->send("GARBAGE last xxxxxxxx\r\n\r\n", 0, $srv);
my (@lines, $more);
for (1 .. 60) {         # the log is written by a thread of its own: until it all is
    @lines = grep { /bad request from 127\.0\.0\.1:\d+: 400 / } split /\n/, wait_log($log, qr/more not logged/);
    $more = 0;
    $more += $_ for map { /\(and (\d+) more not logged before it\)/ ? $1 : 0 } @lines;
    last if @lines + $more >= $n + 1;
    sleep 0.05;
}
ok(@lines >= 2 && @lines <= 21, 'a handful of lines for ' . ($n + 1) . ' bad requests (' . scalar(@lines) . ')');
is(scalar(@lines) + $more, $n + 1, 'those not logged are counted on a later line');
is(stop_server($pid), 0, 'clean stop');
done_testing();
