# The b2bua module end to end, with the registrar and cdr-writer: sipp
# calls A -> b2bua -> B (B registered), topology hidden (B sees one Via,
# its own Call-ID, the configured and copied headers; A sees nothing of
# B), BYE from A and from B; then raw peers: B sees nothing of A's Via,
# Contact or Record-Route; re-INVITEs (hold, unhold) passed across and
# answered with B's answer, INFO passed across, 486 from B passed to A
# (pass_failure) or turned into 480 (pass_failure: false), the
# per-caller limit (403), max_duration (BYE to both legs), CANCEL from A
# reaching B; two CDR records per connected call; B sees the caller's
# From (display name, URI) and A's To by default, an anonymous From with
# anonymous: true.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(time sleep);
use POSIX qw(WNOHANG);
use IO::Socket::INET;
use Socket qw(pack_sockaddr_in inet_aton);
use JSON::PP;
use SipTest;

my ($sipp) = grep { -x } map { "$_/sipp" } split /:/, $ENV{PATH};
BAIL_OUT('sipp not found: run scripts/install-deps.sh') unless $sipp;
my $mods = module_dir();
my $dir = tmpdir();
my $scen = "$ENV{PWD}/t/sipp";
my $cdrs = "$dir/cdr.jsonl";
my $port = free_port();
my ($pid, undef, $log) = start_server(port => $port, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port" ]
  log: { level: info }
  timers: { t1: 100, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: cdr-writer
    file: $cdrs
  - module: registrar
    methods: [ REGISTER ]
    domains: [ 127.0.0.1, example.com ]
    min_expires: 1
  - module: b2bua
    methods: [ INVITE ]
    headers: [ "X-Leg: B" ]
    proxy_request_headers: [ X-Forward-Me ]
    max_calls_per_caller: 1
    max_duration: 4
Y
my $to = pack_sockaddr_in($port, inet_aton('127.0.0.1'));
my $n = 0;
sub register {
    my ($sock, $aor, $contact) = @_;
    my ($user, $dom) = split /\@/, $aor;
    $n++;
    my $sp = $sock->sockport;
    $sock->send("REGISTER sip:$dom SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$sp;branch=z9hG4bK-reg$n;rport\r\n"
              . "Max-Forwards: 70\r\nTo: <sip:$aor>\r\nFrom: <sip:$aor>;tag=r$n\r\nCall-ID: reg-$n\r\n"
              . "CSeq: 1 REGISTER\r\nContact: $contact\r\nContent-Length: 0\r\n\r\n", 0, $to) or die;
    return sip_status(recv_msg($sock, 2));
}
sub recv_final { my ($s, $cseq, $secs, $cid) = @_; my $end = time + ($secs // 3);
    while ((my $l = $end - time) > 0) { my $r = recv_msg($s, $l) // return undef;
        return $r if $r =~ /^SIP\/2\.0 [2-6]/ && (!$cseq || sip_header($r, 'CSeq') eq $cseq) && (!$cid || sip_header($r, 'Call-ID') eq $cid) } return undef }
my $sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9000 RTP/AVP 0\r\na=sendrecv\r\n";
sub req {
    my ($sock, $method, %o) = @_;
    my $sp = $sock->sockport;
    my $body = $o{body} // '';
    return "$method $o{ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$sp;branch=z9hG4bK-" . int(rand(1e9)) . ";rport\r\n"
         . "Max-Forwards: 70\r\nTo: $o{to}\r\nFrom: $o{from}\r\nCall-ID: $o{cid}\r\nCSeq: $o{cseq}\r\n"
         . "Contact: <sip:a\@127.0.0.1:$sp>\r\n" . join('', map { "$_\r\n" } @{ $o{headers} // [] })
         . ($body ne '' ? "Content-Type: " . ($o{ctype} // 'application/sdp') . "\r\n" : '')
         . "Content-Length: " . length($body) . "\r\n\r\n$body";
}
sub reply {
    my ($sock, $r, $status, %o) = @_;
    my $out = "SIP/2.0 $status\r\n";
    $out .= "$1\r\n" while $r =~ /^((?:Via|From|Call-ID|CSeq): [^\r]*)\r$/mg;
    my $t = sip_header($r, 'To');
    $t .= ";tag=$o{tag}" if $o{tag} && $t !~ /tag=/;
    my $body = $o{body} // '';
    $out .= "To: $t\r\nContact: <sip:b\@127.0.0.1:" . $sock->sockport . ">\r\n"
          . ($body ne '' ? "Content-Type: application/sdp\r\n" : '') . "Content-Length: " . length($body) . "\r\n\r\n$body";
    $sock->send($out, 0, $o{dest} // $sock->peername // $to);
}

# 1. sipp A -> b2bua -> sipp B (registered as service@127.0.0.1)
my $bport = free_port();
{
    my $r = IO::Socket::INET->new(Proto => 'udp', LocalAddr => '127.0.0.1', LocalPort => $bport) or die;
    is(register($r, 'service@127.0.0.1', "<sip:service\@127.0.0.1:$bport>"), '200', 'B registered');
}
my $inf = write_file('a.csv', "SEQUENTIAL\nb2bua;-;0;\n");
my $b = sipp_start('b', "-sf $scen/uas_b2b.xml -m 5 -i 127.0.0.1 -p $bport");
sleep 0.3;
my $a = sipp_start('a', "-sf $scen/dialog_uac.xml -inf $inf -m 5 -r 10 -l 1 -i 127.0.0.1 -p " . free_port() . " -s service 127.0.0.1:$port");
is(sipp_done($a), 0, 'sipp A: 5 calls through the b2bua, BYE from A, nothing of B in its 200') or diag(sipp_output('a'));
is(sipp_done($b), 0, 'sipp B: X-Leg and the copied X-Forward-Me came, one Via (ours), then the BYE') or diag(sipp_output('b'));
$b = sipp_start('bb', "-sf $scen/uas_b2b_bye.xml -m 2 -i 127.0.0.1 -p $bport");
sleep 0.3;
$a = sipp_start('ab', "-sf $scen/dialog_uac_byein.xml -inf $inf -m 2 -r 10 -l 1 -i 127.0.0.1 -p " . free_port() . " -s service 127.0.0.1:$port");
is(sipp_done($a), 0, 'sipp A: the BYE from B reached A') or diag(sipp_output('ab'));
is(sipp_done($b), 0, 'sipp B: its BYE answered') or diag(sipp_output('bb'));
sleep 0.3;
my @r = do { open my $fh, '<', $cdrs or die; map { decode_json($_) } <$fh> };
my @uas = grep { ($_->{role} // '') eq 'b2bua-uas' } @r;
my @uac = grep { ($_->{role} // '') eq 'b2bua-uac' } @r;
is(scalar(@uas) . '/' . scalar(@uac), '7/7', 'two records per call: A leg (b2bua-uas) and B leg (b2bua-uac)');
my %corr = map { $_->{call_id} => 1 } @uas;
is(scalar(grep { $corr{$_->{correlation} // ''} } @uac), 7, 'each B leg\'s correlation: its A leg\'s Call-ID');
my %a_ids = map { $_->{call_id} => 1 } @uas;
is(scalar(grep { $a_ids{$_->{call_id}} } @uac), 0, 'B\'s Call-IDs are not A\'s (topology hidden)');
is(scalar(grep { $_->{reason} eq 'normal-release' && $_->{final_status} == 200 } @r), 14, 'all normal-release, 200');

# 2. raw peers: re-INVITE and INFO across, then max_duration
my ($bs, $bsp) = udp_peer();
register($bs, 'bob@example.com', "<sip:bob\@127.0.0.1:$bsp>");
my ($as, $asp) = udp_peer();
my %call = (ruri => 'sip:bob@example.com', to => '<sip:bob@example.com>', from => '"Alice A." <sip:alice@example.com>;tag=a1', cid => 'raw-1');
$as->send(req($as, 'INVITE', %call, cseq => '1 INVITE', body => $sdp, headers => [ "Record-Route: <sip:rr-a\@127.0.0.1:$asp;lr>" ]), 0, $to);
my $binv = recv_request($bs, 'INVITE');
ok($binv, 'B gets the INVITE');
isnt(sip_header($binv, 'Call-ID'), 'raw-1', 'with a Call-ID of its own');
like(sip_header($binv, 'From'), qr/^"Alice A\." <sip:alice\@example\.com>;tag=(?!a1;|a1$)[\w-]+$/, 'B sees who calls: A\'s display name and From URI, a tag of our own');
is(sip_header($binv, 'To'), '<sip:bob@example.com>', 'and whom A called (A\'s To, not the contact B is reached at)');
unlike($binv // '', qr/rr-a|127\.0\.0\.1:$asp\b/, 'and nothing of A\'s Record-Route, Contact or Via');
is(scalar(() = ($binv // '') =~ /^Via:/mg), 1, 'one Via (ours)');
reply($bs, $binv, '200 OK', tag => 'b1', body => $sdp);
my $aok = recv_final($as, '1 INVITE');
is(sip_status($aok), '200', 'A gets the 200');
unlike($aok // '', qr/127\.0\.0\.1:$bsp/, 'with no trace of B\'s address');
my $atag = ($aok // '') =~ /^To: [^\r]*tag=([\w-]+)/m ? $1 : '';
my %in = (%call, to => "<sip:bob\@example.com>;tag=$atag");
$as->send(req($as, 'ACK', %in, cseq => '1 ACK', ruri => "sip:x\@127.0.0.1:$port"), 0, $to);
my $back = recv_request($bs, 'ACK');
ok($back, 'B gets its ACK');
(my $hold = $sdp) =~ s/sendrecv/sendonly/;
$as->send(req($as, 'INVITE', %in, cseq => '2 INVITE', body => $hold, ruri => "sip:x\@127.0.0.1:$port"), 0, $to);
my $breinv = recv_request($bs, 'INVITE');
like($breinv // '', qr/a=sendonly/, 'A\'s re-INVITE (hold) offered to B');
(my $recv = $sdp) =~ s/sendrecv/recvonly/;
reply($bs, $breinv, '200 OK', body => $recv) if $breinv;
my $rok = recv_final($as, '2 INVITE');
like($rok // '', qr/a=recvonly/, 'A gets B\'s answer');
$as->send(req($as, 'ACK', %in, cseq => '2 ACK', ruri => "sip:x\@127.0.0.1:$port"), 0, $to);
# unhold: the next offer is sendrecv again
$as->send(req($as, 'INVITE', %in, cseq => '4 INVITE', body => $sdp, ruri => "sip:x\@127.0.0.1:$port"), 0, $to);
my $bunhold = recv_request($bs, 'INVITE');
like($bunhold // '', qr/a=sendrecv/, 'A\'s re-INVITE (unhold) offered to B');
reply($bs, $bunhold, '200 OK', body => $sdp) if $bunhold;
like(recv_final($as, '4 INVITE') // '', qr/a=sendrecv/, 'A gets B\'s answer: media both ways again');
$as->send(req($as, 'ACK', %in, cseq => '4 ACK', ruri => "sip:x\@127.0.0.1:$port"), 0, $to);
$as->send(req($as, 'INFO', %in, cseq => '5 INFO', body => "Signal=5\r\n", ctype => 'application/dtmf-relay', ruri => "sip:x\@127.0.0.1:$port"), 0, $to);
my $binfo = recv_request($bs, 'INFO');
like($binfo // '', qr/Signal=5/, 'INFO passed to B with its body');
reply($bs, $binfo, '200 OK') if $binfo;
is(sip_status(recv_final($as, '5 INFO')), '200', 'and B\'s answer to A');

# the per-caller limit: alice is in a call
my ($as2) = udp_peer();
$as2->send(req($as2, 'INVITE', %call, cid => 'raw-2', from => '<sip:alice@example.com>;tag=a2', cseq => '1 INVITE', body => $sdp), 0, $to);
my $lim = recv_final($as2, '1 INVITE');
is(sip_status($lim), '403', 'a second call from the same caller: 403');
like($lim // '', qr/at most 1 calls at once/, 'saying why');

# max_duration: both legs get a BYE
my $abye = recv_request($as, 'BYE', 5);
my $bbye = recv_request($bs, 'BYE', 2);
ok($abye && $bbye, 'max_duration: BYE to both legs');
reply($as, $abye, '200 OK') if $abye;
reply($bs, $bbye, '200 OK') if $bbye;

# 3. 486 from B goes to A; CANCEL from A reaches B
sleep 0.3;
$as->send(req($as, 'INVITE', %call, cid => 'raw-3', from => '<sip:alice@example.com>;tag=a3', cseq => '1 INVITE', body => $sdp), 0, $to);
$binv = recv_request($bs, 'INVITE');
reply($bs, $binv, '486 Busy Here', tag => 'b3') if $binv;
my $busy = recv_final($as, '1 INVITE', 3, 'raw-3');
is(sip_status($busy), '486', '486 from B passed to A (pass_failure)');
$as->send(req($as, 'ACK', %call, cid => 'raw-3', from => '<sip:alice@example.com>;tag=a3', to => sip_header($busy, 'To'), cseq => '1 ACK'), 0, $to);
my %c4 = (%call, cid => 'raw-4', from => '<sip:alice@example.com>;tag=a4');
my $inv4 = req($as, 'INVITE', %c4, cseq => '1 INVITE', body => $sdp);
$as->send($inv4, 0, $to);
$binv = recv_request($bs, 'INVITE');
reply($bs, $binv, '180 Ringing', tag => 'b4') if $binv;
sleep 0.3;
(my $cancel = $inv4) =~ s/^INVITE /CANCEL /;
$cancel =~ s/CSeq: 1 INVITE/CSeq: 1 CANCEL/;
$cancel =~ s/Content-Type: [^\r]*\r\n//;
$cancel =~ s/Content-Length: \d+\r\n\r\n.*/Content-Length: 0\r\n\r\n/s;
$as->send($cancel, 0, $to);
my $bcx = recv_request($bs, 'CANCEL');
ok($bcx, 'A\'s CANCEL reaches B');
if ($bcx) { reply($bs, $bcx, '200 OK'); reply($bs, $binv, '487 Request Terminated', tag => 'b4') }
is(sip_status(recv_final($as, '1 INVITE', 3, 'raw-4')), '487', 'A gets 487');

# 4. pass_failure off: A hears 480 naming B's answer, not B's 486
my $port2 = free_port();
my ($pid2) = start_server(port => $port2, yaml => <<Y);
server:
  listen: [ "udp:127.0.0.1:$port2" ]
  timers: { t1: 100, t2: 400, t4: 500 }
modules_path: $mods
chain:
  - module: b2bua
    methods: [ INVITE ]
    target: "sip:pbx\@127.0.0.1:$bsp"
    pass_failure: false
    anonymous: true
Y
my $to2 = pack_sockaddr_in($port2, inet_aton('127.0.0.1'));
$as->send(req($as, 'INVITE', %call, cid => 'raw-5', from => '<sip:alice@example.com>;tag=a5', cseq => '1 INVITE', body => $sdp), 0, $to2);
$binv = recv_request($bs, 'INVITE');
like($binv // '', qr/^INVITE sip:pbx\@127\.0\.0\.1:$bsp SIP/, 'the fixed target is called');
like(sip_header($binv, 'From'), qr/^"Anonymous" <sip:anonymous\@anonymous\.invalid>;tag=/, 'anonymous: true: B sees an anonymous From');
unlike($binv // '', qr/alice/, 'and nothing of the caller');
reply($bs, $binv, '486 Busy Here', tag => 'b5', dest => $to2) if $binv;
$busy = recv_final($as, '1 INVITE', 3, 'raw-5');
is(sip_status($busy), '480', 'pass_failure off: A gets 480');
like($busy // '', qr/^SIP\/2\.0 480 [^\r]*answered 486/, 'its reason names B\'s status');
is(stop_server($pid2), 0, 'second server stopped');
is(stop_server($pid), 0, 'stopped');
@r = do { open my $fh, '<', $cdrs or die; map { decode_json($_) } <$fh> };
my %by = map { $_->{call_id} => $_ } @r;
is($by{'raw-3'} && "$by{'raw-3'}{final_status} $by{'raw-3'}{reason}", '486 call-rejected', 'CDR: call-rejected 486');
is($by{'raw-4'} && "$by{'raw-4'}{final_status} $by{'raw-4'}{reason}", '487 call-canceled', 'CDR: call-canceled 487');
done_testing();
