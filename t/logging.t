# Logging: a file target in JSON lines, the per-message SIP trace, reopen
# on SIGUSR1 (logrotate), and config errors for the log keys.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use SipTest;

my $port = free_port();
my $file = tmpdir() . "/sipchain-json.log";
my ($pid) = start_server(port => $port, ready_file => $file, yaml => <<"Y");
server:
  listen: [ "udp:127.0.0.1:$port" ]
  log: { level: info, target: file, file: "$file", format: json, sip_trace: true }
Y

my $c = udp_client();
my $me = $c->sockport;
my $req = "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-log1;rport\r\n"
        . "Max-Forwards: 70\r\nTo: <sip:127.0.0.1>\r\nFrom: <sip:t\@127.0.0.1>;tag=1\r\n"
        . "Call-ID: log1\@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
like(send_recv($c, $port, $req) // '', qr{^SIP/2\.0 404}, 'answered');

rename $file, "$file.1" or die;
kill 'USR1', $pid;
sleep 0.3;
(my $second = $req) =~ s/log1/log2/g;
send_recv($c, $port, $second);
is(stop_server($pid), 0, 'stopped');

my @old = split /\n/, `cat $file.1`;
my @new = split /\n/, `cat $file`;
ok(@old && @new, 'lines before and after the reopen');
my $all_json = 1;
for (@old, @new) { $all_json &&= /^\{"ts":"[0-9T:.\-]+Z","level":"(error|warn|info|debug)","msg":".*"\}$/ }
ok($all_json, 'every line is a JSON object with ts, level, msg');
my $old = join "\n", @old;
my $new = join "\n", @new;
like($old, qr/"msg":"received \d+ octets from udp:127\.0\.0\.1:$me".*,"sip":"OPTIONS sip:127\.0\.0\.1 SIP\/2\.0\\r\\nVia: [^"]*branch=z9hG4bK-log1/,
     'the trace shows the message received, escaped, as its own field (t/logfields.t parses it)');
like($old, qr/"msg":"sent \d+ octets to udp:127\.0\.0\.1:$me".*,"sip":"SIP\/2\.0 404 Not Found\\r\\n/, 'and the answer sent');
like($new, qr/SIGUSR1: log file reopened/, 'after SIGUSR1 lines go to a new file');
like($new, qr/branch=z9hG4bK-log2/, 'including the next trace');
unlike($old, qr/z9hG4bK-log2/, 'nothing after the reopen went to the rotated file');

# config errors for the log keys
for my $bad (["  log: { target: file }\n", qr/:3:8: target: file needs "file"/],
             ["  log: { target: disk }\n", qr/"target" must be stderr, file or syslog/],
             ["  log: { format: xml }\n", qr/"format" must be text or json/],
             ["  log: { sip_trace: sometimes }\n", qr/"sip_trace" must be true or false/],
             ["  log: { file: /tmp/x.log }\n", qr/"file" is only for target: file/]) {
    my $p = write_file('log' . int(rand(1e9)) . '.yaml', "server:\n  listen: [ \"udp:127.0.0.1:5060\" ]\n$bad->[0]");
    like(`@{[sipchain()]} -t -c $p 2>&1`, $bad->[1], "bad log config named: $bad->[0]" =~ s/\n//r);
}
my $p = write_file('logdir.yaml', "server:\n  listen: [ \"udp:127.0.0.1:" . free_port() . "\" ]\n"
                                  . "  log: { target: file, file: /nonexistent/dir/x.log }\n");
my $out = `@{[sipchain()]} -c $p 2>&1`;
is($? >> 8, 1, 'an unwritable log file stops the start');
like($out, qr{cannot open log file /nonexistent/dir/x\.log}, 'with the reason');
done_testing();
