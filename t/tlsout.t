# TLS that sipchain opens itself (RFC 3261 §26.2.1, RFC 5922): towards a
# transport=tls or sips: next hop, with SNI and the peer's certificate
# checked against the listener's server_ca (or the system's CAs) and the
# host name or address the URI names; refused when it does not verify,
# unless verify_server: false.  A phone registered over TLS is called
# over its connection, and once that is gone over a new one to its
# Contact.  Peers are IO::Socket::SSL servers and clients.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use IO::Socket::SSL;
use IO::Select;
use Socket qw(pack_sockaddr_in inet_aton);
use Time::HiRes qw(time sleep);
use SipTest;

my $mods = module_dir();
my $d = tmpdir();
sub sh { system("$_[0] >/dev/null 2>&1") == 0 or die "failed: $_[0]" }
sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca -keyout $d/ca.key -out $d/ca.pem");
sub cert {
    my ($who, $san) = @_;
    write_file("$who.ext", "subjectAltName=$san\n");
    sh("openssl req -newkey rsa:2048 -nodes -subj /CN=$who -keyout $d/$who.key -out $d/$who.csr");
    sh("openssl x509 -req -in $d/$who.csr -CA $d/ca.pem -CAkey $d/ca.key -CAcreateserial -days 2 "
     . "-extfile $d/$who.ext -out $d/$who.pem");
}
cert('sipchain', 'DNS:sipchain.test,IP:127.0.0.1');
cert('peer', 'DNS:peer.test');
cert('phone', 'IP:127.0.0.1');
sh("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=rogue -addext subjectAltName=DNS:rogue.test "
 . "-keyout $d/rogue.key -out $d/rogue.pem");
write_file('hosts', "127.0.0.1 peer.test rogue.test\n");

# A TLS server that answers every INVITE 486 and remembers what it saw.
sub tls_server {
    my ($who) = @_;
    return IO::Socket::SSL->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 5, ReuseAddr => 1,
                                SSL_cert_file => "$d/$who.pem", SSL_key_file => "$d/$who.key")
        || die "tls server: $SSL_ERROR";
}
my $peer = tls_server('peer');
my $rogue = tls_server('rogue');
my $phone_l = tls_server('phone');
my ($pp, $rp, $php) = map { $_->sockport } $peer, $rogue, $phone_l;

sub server_yaml {
    my ($udp, $tls, $verify) = @_;
    return <<Y;
server:
  listen:
    - "udp:127.0.0.1:$udp"
    - { url: "tls:127.0.0.1:$tls", cert: $d/sipchain.pem, key: $d/sipchain.key, server_ca: $d/ca.pem$verify }
  log: { level: debug }
  timers: { t1: 100, t2: 400, t4: 500 }
  dns: { hosts_file: $d/hosts, servers: [ "127.0.0.1:9" ], timeout: 200, attempts: 1 }
modules_path: $mods
chain:
  - module: registrar
    methods: [ REGISTER ]
    domains: [ example.com ]
  - module: proxy
    record_route: true
    routes:
      - domain: peer.example
        targets: [ "sip:peer.test:$pp;transport=tls" ]
      - domain: rogue.example
        targets: [ "sips:rogue.test:$rp" ]
Y
}
my ($port, $tport) = (free_port(), free_port());
my ($pid, undef, $log) = start_server(port => $port, yaml => server_yaml($port, $tport, ''));
my $c = udp_client();
my $me = $c->sockport;
my $srv = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
my $n = 0;
my $last_invite;
sub invite {
    my ($ruri) = @_;
    $n++;
    return $last_invite = "INVITE $ruri SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$me;branch=z9hG4bK-to$n;rport\r\n"
         . "Max-Forwards: 70\r\nTo: <$ruri>\r\nFrom: <sip:a\@example.com>;tag=a$n\r\nCall-ID: tlsout-$n\r\n"
         . "CSeq: 1 INVITE\r\nContact: <sip:a\@127.0.0.1:$me>\r\nContent-Length: 0\r\n\r\n";
}
# The final answer to the last INVITE sent from $c (answered with ACK).
sub final_of {
    my ($sock, $secs) = @_;
    my $end = time + ($secs // 5);
    my ($cid) = $last_invite =~ /^Call-ID: (\S+)/m;
    while ((my $l = $end - time) > 0) {
        my $r = recv_msg($sock, $l) // return undef;
        next unless sip_status($r) >= 200 && sip_header($r, 'Call-ID') eq $cid;
        $sock->send(non2xx_ack($last_invite, $r), 0, $srv);
        return $r;
    }
    return undef;
}
# Reads one SIP message from a stream (headers, then Content-Length).
sub read_msg {
    my ($s, $secs) = @_;
    my ($buf, $end) = ('', time + ($secs // 5));
    my $sel = IO::Select->new($s);
    while (time < $end) {
        if ($buf =~ /\r\n\r\n/) {
            my ($cl) = $buf =~ /^Content-Length: (\d+)/mi;
            my $need = index($buf, "\r\n\r\n") + 4 + ($cl // 0);
            return substr($buf, 0, $need) if length($buf) >= $need;
        }
        next unless $s->pending || $sel->can_read(0.2);
        my $k = sysread($s, $buf, 65536, length $buf);
        return undef if defined $k && $k == 0;     # closed
    }
    return undef;
}
sub answer { return sip_answer(@_) }
# Accepts one connection on a TLS server, reads one request, answers 486.
sub serve_one {
    my ($l, $secs) = @_;
    return (undef, undef) unless IO::Select->new($l)->can_read($secs // 5);
    my $s = $l->accept or return (undef, undef);
    my $sni = $s->can('get_servername') ? $s->get_servername : undef;
    my $req = read_msg($s);
    print $s answer($req, '486 Busy Here') if $req;
    return ($req, $sni, $s);
}

# 1: transport=tls to a name: SNI, name verified against server_ca
$c->send(invite('sip:9000@peer.example'), 0, $srv) or die;
my ($req, $sni, $conn) = serve_one($peer);
ok($req && $req =~ /^INVITE /, 'the INVITE goes to the TLS next hop');
like($req // '', qr{^Via: SIP/2\.0/TLS }m, 'with a TLS Via');
is($sni, 'peer.test', 'SNI names the host of the URI');
is(sip_status(final_of($c)), '486', 'its answer comes back over the connection we opened');

# 2: a certificate that does not verify: no INVITE, 503, the reason logged
$c->send(invite('sip:9001@rogue.example'), 0, $srv) or die;
if (IO::Select->new($rogue)->can_read(3)) { my $s = $rogue->accept; close $s if $s }   # the handshake fails on our side
my $f = final_of($c, 8);
is(sip_status($f), '503', 'a peer whose certificate does not verify: 503');
like(wait_log($log, qr/certificate verify failed/), qr/certificate verify failed/, 'the reason is logged');

# 3: a phone registered over TLS is called over its connection ...
my $ph = IO::Socket::SSL->new(PeerAddr => '127.0.0.1', PeerPort => $tport, SSL_ca_file => "$d/ca.pem",
                              SSL_verifycn_name => 'sipchain.test') or die "phone: $SSL_ERROR";
my $lp = $ph->sockport;
print $ph "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:$lp;branch=z9hG4bK-phreg\r\n"
        . "Max-Forwards: 70\r\nTo: <sip:tp\@example.com>\r\nFrom: <sip:tp\@example.com>;tag=p1\r\n"
        . "Call-ID: phreg\r\nCSeq: 1 REGISTER\r\nContact: <sip:tp\@127.0.0.1:$php;transport=tls>\r\n"
        . "Expires: 300\r\nContent-Length: 0\r\n\r\n";
is(sip_status(read_msg($ph)), '200', 'the phone registers over TLS');
$c->send(invite('sip:tp@example.com'), 0, $srv) or die;
my $inv = read_msg($ph);
ok($inv && $inv =~ /^INVITE sip:tp\@127\.0\.0\.1:$php;transport=tls /, 'the phone is called over the connection it registered on');
is(sip_header($inv, 'Record-Route'), "<sip:127.0.0.1:$tport;transport=tls;lr>, <sip:127.0.0.1:$port;transport=udp;lr>",
   'UDP caller, TLS phone: two Record-Routes, the phone\'s side over TLS (RFC 5658)');
print $ph answer($inv, '486 Busy Here') if $inv;
is(sip_status(final_of($c)), '486', 'its answer comes back');

# 4: ... and once that connection is gone, over a new one to its Contact
close $ph;
sleep 0.3;
$c->send(invite('sip:tp@example.com'), 0, $srv) or die;
my ($preq) = serve_one($phone_l);
ok($preq && $preq =~ /^INVITE sip:tp\@127\.0\.0\.1:$php;transport=tls /, 'flow gone: a new TLS connection to its Contact (verified by address)');
is(sip_status(final_of($c)), '486', 'and its answer comes back');
is(stop_server($pid), 0, 'clean stop');

# 5: verify_server: false lets the rogue certificate through
($port, $tport) = (free_port(), free_port());
($pid, undef, $log) = start_server(port => $port, yaml => server_yaml($port, $tport, ', verify_server: false'));
$srv = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
$c->send(invite('sip:9002@rogue.example'), 0, $srv) or die;
($req) = serve_one($rogue);
ok($req && $req =~ /^INVITE /, 'verify_server: false: the unverified peer gets the INVITE');
is(sip_status(final_of($c)), '486', 'and answers');
is(stop_server($pid), 0, 'clean stop');
done_testing();
