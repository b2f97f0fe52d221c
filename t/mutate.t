# No request is held without an owner (issue: hostile traffic): a
# stream of mutated requests — bytes flipped, CR, LF and NUL dropped
# into header values, lines cut or doubled — and the two known wedges
# (a bare CR inside From and inside Via, which once left a transaction
# behind per request and applied a REGISTER unanswered) are answered or
# dropped, the transaction count returns to zero, and the server still
# answers.  Bounded: a fixed number of datagrams at a paced rate, a
# fixed seed.
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
  metrics: { listen: "127.0.0.1:$mport" }
modules_path: $mods
chain:
  - module: registrar
    methods: [ REGISTER ]
    domains: [ example.com ]
  - module: options
    methods: [ OPTIONS ]
Y
my $srv = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
my $c = udp_client();
my $me = $c->sockport;

sub metric { return metric_value($mport, $_[0]) }
sub register {
    my ($n, %o) = @_;
    my $from = $o{from} // "<sip:u$n\@example.com>;tag=f$n";
    my $via = $o{via} // "SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-mu$n;rport";
    return "REGISTER sip:example.com SIP/2.0\r\nVia: $via\r\nMax-Forwards: 70\r\n"
         . "To: <sip:u$n\@example.com>\r\nFrom: $from\r\nCall-ID: mu-$n\r\nCSeq: 1 REGISTER\r\n"
         . "Contact: <sip:u$n\@127.0.0.1:$me>\r\nExpires: 60\r\nContent-Length: 0\r\n\r\n";
}

# 1: the two known wedges get 400 naming the defect, and the REGISTER is
# not applied
my $r = send_recv($c, $port, register(1, from => "<sip:u1\@example.com>;tag=a\rb"), 2);
like($r // '', qr{^SIP/2\.0 400 Bare CR in header "From"}, 'a bare CR inside From: 400 naming it');
$r = send_recv($c, $port, register(2, via => "SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-x\rx;rport"), 2);
like($r // '', qr{^SIP/2\.0 400 Bare CR in header "Via"}, 'a bare CR inside Via: 400 naming it');
$r = send_recv($c, $port, register(3, from => "<sip:u3\@example.com>;tag=a\0b"), 2);
like($r // '', qr{^SIP/2\.0 400 NUL in header "From"}, 'a NUL outside a quoted-pair: 400 naming it');
my $q = "OPTIONS sip:127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-q1;rport\r\n"
      . "Max-Forwards: 70\r\nTo: <sip:u1\@example.com>\r\nFrom: <sip:q\@example.com>;tag=q\r\nCall-ID: q1\r\n"
      . "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
is(sip_status(send_recv($c, $port, $q, 2)), '200', 'the server still answers');
is(metric('sipchain_registrar_bindings{link="1"}'), 0, 'the refused REGISTERs bound nothing');

# 2: a stream of mutations
srand(20261203);
my @templates = (register(10), $q, register(11) =~ s/^REGISTER sip:example\.com/INVITE sip:u11\@example.com/r =~ s/CSeq: 1 REGISTER/CSeq: 1 INVITE/r);
my @junk = ("\r", "\n", "\0", "\r\n", ";", "<", ">", '"', "\\", ":", " ", "\t", "\xff", "%", ",");
sub mutate {
    my ($m, $k) = @_;
    $m =~ s/branch=z9hG4bK-[^;\r]*/branch=z9hG4bK-s$k/;
    $m =~ s/Call-ID: \S+/Call-ID: s$k/;
    my $ops = 1 + int(rand(3));
    for (1 .. $ops) {
        my $at = int(rand(length $m));
        my $op = int(rand(5));
        if ($op == 0) { substr($m, $at, 1) = $junk[int(rand(@junk))] }               # replace
        elsif ($op == 1) { substr($m, $at, 0) = $junk[int(rand(@junk))] }            # insert
        elsif ($op == 2) { substr($m, $at, 1 + int(rand(8))) = '' }                  # delete
        elsif ($op == 3) { $m = substr($m, 0, $at) }                                 # truncate
        else {                                                                       # a line twice
            my @l = split /\r\n/, $m, -1;
            my $i = int(rand(@l));
            splice(@l, $i, 0, $l[$i] // "");
            $m = join("\r\n", @l);
        }
    }
    return $m;
}
my $n = 2000;
my $t0 = time;
for my $k (1 .. $n) {
    $c->send(mutate($templates[$k % @templates], $k), 0, $srv);
    sleep 0.001 if $k % 10 == 0;           # about 5 000/s at most
}
my $answers = 0;
while (defined(my $a = recv_msg($c, 0.5))) { $answers++ }
ok($answers > 0, "the $n mutated requests got answers where they could ($answers)");

# every transaction ends within its timers (timer H / J: 64*T1 = 6.4 s)
my ($count, $end) = (undef, time + 20);
while (time < $end) {
    $count = metric('sipchain_transactions');
    last if defined $count && $count == 0;
    1 while defined recv_msg($c, 0.2);     # retransmitted answers
}
is($count, 0, 'the transaction count returns to zero');
is(sip_status(send_recv($c, $port, $q =~ s/z9hG4bK-q1/z9hG4bK-q2/r =~ s/Call-ID: q1/Call-ID: q2/r, 2)), '200',
   'and the server still answers');
is(stop_server($pid), 0, 'clean stop');
done_testing();
