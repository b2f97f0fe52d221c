# Where responses go, RFC 3261 §18.2.1-§18.2.2 in full: received and
# rport stamped into the top Via as the request arrives (so the 100, a
# module's answer and a forwarded copy all carry them); a Via's maddr
# taken as the destination; over TCP, the connection the request came
# on, or once that is gone a new one to its address at the sent-by port.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::INET;
use IO::Select;
use Socket qw(pack_sockaddr_in inet_aton);
use SipTest;

my $mods = module_dir();
my $port = free_port();
my ($far, $farport) = udp_peer();
my ($pid, undef, $log) = start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port", "tcp:127.0.0.1:$port" ]
  log: { level: info }
  timers: { t1: 100, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: t_async
    methods: [ OPTIONS ]
    delay_ms: 300
  - module: options
  - module: proxy
Y
my $srv = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
my $n = 0;
sub req {
    my ($method, $ruri, $via) = @_;
    $n++;
    return "$method $ruri SIP/2.0\r\nVia: $via;branch=z9hG4bK-rs$n\r\nMax-Forwards: 70\r\n"
         . "To: <$ruri>\r\nFrom: <sip:a\@example.com>;tag=a$n\r\nCall-ID: rs-$n\r\nCSeq: 1 $method\r\n"
         . "Content-Length: 0\r\n\r\n";
}

# 1: maddr: the answer goes to the address it names, at the sent-by port
{
    my $sp = free_port();
    my $m = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.5', LocalPort => $sp) or die "127.0.0.5: $!";
    my $c = udp_client();
    $c->send(req('OPTIONS', "sip:127.0.0.1:$port", "SIP/2.0/UDP 127.0.0.1:$sp;maddr=127.0.0.5"), 0, $srv) or die;
    my $r = recv_msg($m, 3);
    is(sip_status($r), '200', 'maddr: the answer goes to the maddr address at the sent-by port');
    is(recv_msg($c, 0.3), undef, 'and not to the source');
}

# 2: received stamped as the request arrives: in the 100 and in the copy
# a proxy forwards
{
    my $c = udp_client();
    my $cp = $c->sockport;
    $c->send(req('INVITE', "sip:x\@127.0.0.1:$farport", "SIP/2.0/UDP client.invalid:$cp;rport"), 0, $srv) or die;
    my $trying = recv_msg($c, 3);
    is(sip_status($trying), '100', 'a 100 comes back to the source (rport)');
    like(sip_header($trying, 'Via'), qr/;rport=$cp;.*;received=127\.0\.0\.1$/, 'the 100 carries rport and received');
    my $fwd = recv_request($far, 'INVITE', 3);
    my @via = ($fwd // '') =~ /^Via: ([^\r]*)\r$/mg;
    like($via[1] // '', qr/^SIP\/2\.0\/UDP client\.invalid:$cp;rport=$cp;branch=z9hG4bK-rs$n;received=127\.0\.0\.1$/,
         'the forwarded copy carries the caller\'s Via with received and rport (§18.2.1)');
    if ($fwd) {
        my $out = "SIP/2.0 486 Busy Here\r\n";
        $out .= "$1\r\n" while $fwd =~ /^((?:Via|From|Call-ID|CSeq): [^\r]*)\r$/mg;
        $far->send("${out}To: <sip:x\@127.0.0.1>;tag=f\r\nContent-Length: 0\r\n\r\n", 0, $srv);
    }
    my $final;
    while (defined(my $r = recv_msg($c, 3))) { $final = $r, last if sip_status($r) >= 200 }
    is(sip_status($final), '486', 'the answer reaches the caller at its rport');
}

# 3: TCP: the connection is gone by the time the answer is ready: a new
# connection to the source address at the sent-by port
{
    my $lp = free_port();
    my $l = IO::Socket::INET->new(Proto => 'tcp', LocalAddr => '127.0.0.1', LocalPort => $lp, Listen => 5, ReuseAddr => 1) or die;
    my $t = IO::Socket::INET->new(Proto => 'tcp', PeerAddr => '127.0.0.1', PeerPort => $port) or die;
    $t->syswrite(req('OPTIONS', "sip:127.0.0.1:$port", "SIP/2.0/TCP 127.0.0.1:$lp"));
    close $t;                                  # before t_async lets the answer go
    my $buf = '';
    if (IO::Select->new($l)->can_read(4)) {
        my $s = $l->accept;
        my $sel = IO::Select->new($s);
        while ($buf !~ /\r\n\r\n/ && $sel->can_read(2)) { sysread($s, $buf, 65536, length $buf) or last }
    }
    is(sip_status($buf), '200', 'connection gone: the answer comes over a new one to the sent-by port');
}

is(stop_server($pid), 0, 'clean stop');
done_testing();
