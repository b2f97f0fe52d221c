# Logs operators can filter: JSON lines carry structured fields where
# they exist (call_id, method, status, module, peer, transport) besides
# msg, a SIP trace line carries the message as its own field "sip", and
# the lines logged before the log target opens (the modules' at create)
# reach that target too.  Every line is parsed with a JSON parser.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use JSON::PP qw(decode_json);
use SipTest;

my $port = free_port();
my $file = tmpdir() . '/fields.log';
my $mods = module_dir();
my ($pid, undef, $stderr) = start_server(port => $port, ready_file => $file, yaml => <<"Y");
server:
  listen: [ "udp:127.0.0.1:$port" ]
  log: { level: info, target: file, file: "$file", format: json, sip_trace: true }
modules_path: $mods
chain:
  - module: digest-auth
    realm: example.com
    users: $ENV{PWD}/conf/examples/users.yaml
  - module: options
Y
my $c = udp_client();
my $me = $c->sockport;
my $reg = "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-f1;rport\r\n"
        . "Max-Forwards: 70\r\nTo: <sip:alice\@example.com>\r\nFrom: <sip:alice\@example.com>;tag=1\r\n"
        . "Call-ID: fields-1\@test\r\nCSeq: 1 REGISTER\r\nContact: <sip:alice\@127.0.0.1:$me>\r\n"
        . "Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"forged\", "
        . "uri=\"sip:example.com\", response=\"00000000000000000000000000000000\"\r\nContent-Length: 0\r\n\r\n";
like(send_recv($c, $port, $reg) // '', qr{^SIP/2\.0 401}, 'a REGISTER with a forged nonce is challenged');
wait_log($file, qr/a nonce we did not make/);
is(stop_server($pid), 0, 'stopped');

my @lines = do { open my $fh, '<', $file or die; <$fh> };
my @j;
my $bad = 0;
for (@lines) { my $o = eval { decode_json($_) }; $o ? push(@j, $o) : $bad++ }
is($bad, 0, 'every line parses as JSON') or diag(join '', @lines);
is(scalar(grep { !defined $_->{ts} || !defined $_->{level} || !defined $_->{msg} } @j), 0, 'each has ts, level, msg');

# a module's line while a request is handled: who, what, from where
my ($mod) = grep { $_->{msg} =~ /a nonce we did not make/ } @j;
ok($mod, 'digest-auth logged the forged nonce');
is($mod->{module}, 'digest-auth', 'module: the link that logged it');
is($mod->{call_id}, 'fields-1@test', 'call_id: the request\'s');
is($mod->{method}, 'REGISTER', 'method');
is($mod->{peer}, "127.0.0.1:$me", 'peer: address and port it came from');
is($mod->{transport}, 'udp', 'transport');
unlike($mod->{msg}, qr/^digest-auth:/, 'msg is the text alone (the module is its own field)');

# the trace: the message as its own field
my ($in) = grep { $_->{msg} =~ /^received \d+ octets/ } @j;
ok($in && $in->{sip}, 'the received trace line has a "sip" field');
is($in && $in->{sip}, $reg, 'holding the message as received, byte for byte');
unlike($in->{msg}, qr/REGISTER/, 'and msg does not repeat it');
is($in->{peer}, "127.0.0.1:$me", 'with its peer');
my ($out) = grep { $_->{msg} =~ /^sent \d+ octets/ } @j;
like($out && $out->{sip}, qr{^SIP/2\.0 401 Unauthorized\r\n.*\r\nCall-ID: fields-1\@test\r\n}s, 'the sent trace: the answer');
is($out && $out->{status}, 401, 'status: the answer\'s');
is($out && $out->{call_id}, 'fields-1@test', 'call_id and method of the request it answers')
    and is($out->{method}, 'REGISTER', 'method REGISTER');

# a line with nothing to say about a message has no such fields
my ($start) = grep { $_->{msg} =~ /started with/ } @j;
ok($start && !exists $start->{call_id} && !exists $start->{peer} && !exists $start->{module}, 'a process line carries no message fields');

# lines logged before the target opened: in the file too (and on stderr)
my ($early) = grep { $_->{msg} =~ /user\(s\) from/ } @j;
ok($early, 'the modules\' lines at create (before the log file opened) reach the file');
is($early && $early->{module}, 'digest-auth', 'as JSON with their module');
my $err = do { local (@ARGV, $/) = $stderr; <> } // '';
like($err, qr/\[info\] digest-auth: \d+ user\(s\) from/, 'and were on stderr as they happened');
my @order = map { $_->{msg} } @j;
my ($ie) = grep { $order[$_] =~ /user\(s\) from/ } 0 .. $#order;
my ($is) = grep { $order[$_] =~ /started with/ } 0 .. $#order;
ok(defined $ie && defined $is && $ie < $is, 'in their place: before "started"');

# text format: the same early line, as text
$port = free_port();
my $tfile = tmpdir() . '/text.log';
($pid) = start_server(port => $port, ready_file => $tfile, yaml => <<"Y");
server:
  listen: [ "udp:127.0.0.1:$port" ]
  log: { level: info, target: file, file: "$tfile" }
modules_path: $mods
chain:
  - module: digest-auth
    realm: example.com
    users: $ENV{PWD}/conf/examples/users.yaml
Y
is(stop_server($pid), 0, 'stopped');
like(do { local (@ARGV, $/) = $tfile; <> } // '', qr/^\S+ \[info\] digest-auth: \d+ user\(s\) from .*\n(?:.*\n)*\S+ \[info\] sipchain\/\S+ started with/m,
     'a text log file gets the early lines too, in text');
done_testing();
