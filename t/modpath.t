# modules_path as a list of directories, searched in order: an
# out-of-tree module built in a directory of its own is loaded beside the
# built-in ones, without installing it anywhere.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use SipTest;

my $dir = tmpdir();
my $build = $ENV{SC_BUILD} // 'objs';
my $mods = ($build =~ m{^/} ? $build : "$ENV{PWD}/$build") . '/modules';
my $cc = $ENV{CC} // 'cc';

# Builds NAME.so in $dir/sub from a module answering INFO with header X-From: tag.
sub build_module {
    my ($sub, $name, $tag) = @_;
    mkdir "$dir/$sub";
    my $src = write_file("$sub/$name.c", <<"C");
#include <string.h>
#include <sipchain.h>
static void h(sc_instance_t *inst, sc_req_t *req, sc_res_t *res)
{
    (void)inst;
    sc_str_t m = sc_req_method(req);
    if (m.len == 4 && memcmp(m.s, "INFO", 4) == 0) {
        sc_res_add_header(res, "X-From", "$tag");
        sc_res_send(res, 200, NULL);
    } else {
        sc_next(req);
    }
}
const sc_module_t sc_module = { SC_MODULE_HEADER, .name = "$name", .version = "1", .handle = h };
C
    system("$cc -shared -fPIC -I$ENV{PWD}/include -o $dir/$sub/$name.so $src") == 0 or die "cannot build $name";
    return "$dir/$sub";
}

my $own = build_module('own', 'hello', 'out-of-tree');
ok(!-e "$mods/hello.so", 'hello is not among the built-in modules');

my $port = free_port();
my ($pid) = start_server(port => $port, yaml => <<"Y");
server:
  listen: [ "udp:127.0.0.1:$port" ]
modules_path: [ $own, $mods ]
chain:
  - module: hello
  - module: options
Y
my $c = udp_client();
sub req {
    my ($m) = @_;
    my $b = 'z9hG4bK' . int(rand(1e9));
    return "$m sip:127.0.0.1:$port SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" . $c->sockport . ";branch=$b\r\n"
         . "From: <sip:a\@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: $b\r\nCSeq: 1 $m\r\n"
         . "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
}
my $r = send_recv($c, $port, req('INFO'));
is(sip_status($r), '200', 'the out-of-tree module (first directory) answers INFO');
is(sip_header($r, 'X-From'), 'out-of-tree', 'with its header');
is(sip_status(send_recv($c, $port, req('OPTIONS'))), '200', 'the built-in options module (second directory) answers OPTIONS');
is(stop_server($pid), 0, 'stopped');

# the first directory holding NAME.so wins: a module of the same name
# earlier in the list shadows the later one
build_module('shadow1', 'hello', 'first');
build_module('shadow2', 'hello', 'second');
$port = free_port();
($pid) = start_server(port => $port, yaml => <<"Y");
server:
  listen: [ "udp:127.0.0.1:$port" ]
modules_path: [ $dir/shadow1, $dir/shadow2 ]
chain:
  - module: hello
Y
is(sip_header(send_recv($c, $port, req('INFO')), 'X-From'), 'first', 'the first directory in the list wins');
is(stop_server($pid), 0, 'stopped');

# a single directory (the old form) still works, and -t agrees
my $one = write_file('one.yaml', "server:\n  listen: [ \"udp:127.0.0.1:5060\" ]\nmodules_path: $mods\nchain:\n  - module: options\n");
like(`@{[sipchain()]} -t -c $one 2>&1`, qr/is valid/, 'modules_path as one directory');
my $two = write_file('two.yaml', "server:\n  listen: [ \"udp:127.0.0.1:5060\" ]\nmodules_path: [ $own, $mods ]\nchain:\n  - module: hello\n  - module: options\n");
like(`@{[sipchain()]} -t -c $two 2>&1`, qr/is valid/, '-t finds modules along the list');

# errors name file:line:col
my @bad = (
    [ "modules_path: []\n", qr/bad-0\.yaml:3:15: "modules_path" must be a directory or a list/, 'an empty list' ],
    [ "modules_path: [ \"/a:/b\" ]\n", qr/bad-1\.yaml:3:17: a modules_path directory must be a non-empty path without ':'/, 'a directory with a colon' ],
    [ "modules_path: { a: b }\n", qr/bad-2\.yaml:3:15: "modules_path" must be a directory or a list/, 'a mapping' ],
    [ "modules_path: [ /nonexistent1, /nonexistent2 ]\n", qr{bad-3\.yaml:5:13: unknown module "nosuch": cannot load /nonexistent1/nosuch\.so: [^;]+; /nonexistent2/nosuch\.so}, 'a module in none of the directories: each one tried is named' ],
);
for my $i (0 .. $#bad) {
    my $f = write_file("bad-$i.yaml", "server:\n  listen: [ \"udp:127.0.0.1:5060\" ]\n$bad[$i][0]chain:\n  - module: nosuch\n");
    my $out = `@{[sipchain()]} -t -c $f 2>&1`;
    isnt($? >> 8, 0, "$bad[$i][2]: refused");
    like($out, $bad[$i][1], "$bad[$i][2]: file:line:col and why") or diag($out);
}
done_testing();
