#!/bin/sh
# Regenerates the test-only PKI in this directory (see README.txt). Needs strongSwan's
# `pki` (5.9) and `openssl` (3.x). Keys are fresh on every run: rerunning changes every file.
set -eu
cd "$(dirname "$0")"
rm -f ./*.pem ./*.der ./*.bin ./*.sig

P="pki"
# Fixed validity windows so the tests can use fixed "now" values.
# strongSwan reads the dates in local time: pin the zone.
export TZ=UTC
VALID="--dateform %Y%m%d%H%M%S --not-before 20240101000000 --not-after 20440101000000"
LONG="--dateform %Y%m%d%H%M%S --not-before 20240101000000 --not-after 20600101000000"
EXPIRED="--dateform %Y%m%d%H%M%S --not-before 20200101000000 --not-after 20210101000000"
O="C=XX, O=ferrogate test"

gen() { $P --gen --type "$1" --size "$2" --outform pem > "$3"; }
self_ca() { $P --self --ca --type "$1" --in "$2" --dn "$3" $4 --digest "$5" --outform pem > "$6"; }

# RSA-2048 root CA, RSA-2048 intermediate, RSA-2048 leaf (PKCS#1 v1.5 SHA-256 links).
gen rsa 2048 rsa-ca.key.pem
self_ca rsa rsa-ca.key.pem "$O, CN=RSA Root CA" "$VALID" sha256 rsa-ca.pem
gen rsa 2048 rsa-int.key.pem
$P --pub --type rsa --in rsa-int.key.pem | $P --issue --type pub --cacert rsa-ca.pem \
  --cakey rsa-ca.key.pem --dn "$O, CN=RSA Intermediate CA" --ca --pathlen 0 $VALID \
  --digest sha256 --outform pem > rsa-int.pem
gen rsa 2048 rsa-leaf.key.pem
$P --pub --type rsa --in rsa-leaf.key.pem | $P --issue --type pub --cacert rsa-int.pem \
  --cakey rsa-int.key.pem --dn "$O, CN=gw1.example.test" --san 192.0.2.1 \
  --san gw1.example.test --san gw1@example.test $VALID --digest sha256 --outform pem \
  > rsa-leaf.pem
# A second RSA leaf whose issuer signed it with RSA-PSS and SHA-384.
gen rsa 2048 rsa-pss-leaf.key.pem
$P --pub --type rsa --in rsa-pss-leaf.key.pem | $P --issue --type pub --cacert rsa-int.pem \
  --cakey rsa-int.key.pem --dn "$O, CN=gw3.example.test" --san gw3.example.test $VALID \
  --digest sha384 --rsa-padding pss --outform pem > rsa-pss-leaf.pem
# A certificate "issued" by the RSA leaf, which is no CA. strongSwan refuses to do that, so
# `openssl ca` signs it, with the same fixed dates.
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
touch "$TMP/index.txt"
cat > "$TMP/ca.cnf" <<CNF
[ca]
default_ca = tca
[tca]
database = $TMP/index.txt
new_certs_dir = $TMP
serial = $TMP/serial
policy = any
default_md = sha256
preserve = yes
[any]
countryName = optional
organizationName = optional
commonName = supplied
[leafext]
subjectAltName = IP:192.0.2.9
[critext]
subjectAltName = DNS:critical.example.test
1.3.6.1.4.1.55555.1 = critical, ASN1:NULL
[nods]
keyUsage = critical, keyEncipherment
subjectAltName = DNS:nods.example.test
CNF
oca() { # signer-cert signer-key subject-key cn extensions serial out
  echo "$6" > "$TMP/serial"
  openssl req -new -key "$3" -subj "/C=XX/O=ferrogate test/CN=$4" -out "$TMP/req.csr"
  openssl ca -batch -notext -config "$TMP/ca.cnf" -cert "$1" -keyfile "$2" \
    -in "$TMP/req.csr" -startdate 20240101000000Z -enddate 20440101000000Z \
    -extensions "$5" -out "$7" 2>/dev/null
}
gen ecdsa 256 not-ca-child.key.pem
oca rsa-leaf.pem rsa-leaf.key.pem not-ca-child.key.pem "child of a leaf" leafext 1001 \
  not-ca-child.pem

# A sub-CA under the intermediate, whose pathLenConstraint 0 forbids it, and its leaf.
gen ecdsa 256 rsa-sub.key.pem
$P --pub --type ecdsa --in rsa-sub.key.pem | $P --issue --type pub --cacert rsa-int.pem \
  --cakey rsa-int.key.pem --dn "$O, CN=Sub CA below pathlen 0" --ca $VALID --digest sha256 \
  --outform pem > rsa-sub.pem
gen ecdsa 256 rsa-sub-leaf.key.pem
$P --pub --type ecdsa --in rsa-sub-leaf.key.pem | $P --issue --type pub --cacert rsa-sub.pem \
  --cakey rsa-sub.key.pem --dn "$O, CN=sub.example.test" --san sub.example.test $VALID \
  --digest sha256 --outform pem > rsa-sub-leaf.pem

# ECDSA P-256 root CA and leaf (ecdsa-with-SHA256).
gen ecdsa 256 ecp256-ca.key.pem
self_ca ecdsa ecp256-ca.key.pem "$O, CN=ECDSA P-256 Root CA" "$VALID" sha256 ecp256-ca.pem
gen ecdsa 256 ecp256-leaf.key.pem
$P --pub --type ecdsa --in ecp256-leaf.key.pem | $P --issue --type pub --cacert ecp256-ca.pem \
  --cakey ecp256-ca.key.pem --dn "$O, CN=gw2.example.test" --san 192.0.2.2 \
  --san 2001:db8::2 --san gw2.example.test $VALID --digest sha256 --outform pem \
  > ecp256-leaf.pem
# An expired leaf under the same CA.
gen ecdsa 256 expired-leaf.key.pem
$P --pub --type ecdsa --in expired-leaf.key.pem | $P --issue --type pub --cacert ecp256-ca.pem \
  --cakey ecp256-ca.key.pem --dn "$O, CN=expired.example.test" --san expired.example.test \
  $EXPIRED --digest sha256 --outform pem > expired-leaf.pem

# A leaf whose keyUsage lacks digitalSignature (keyEncipherment only).
gen ecdsa 256 nods-leaf.key.pem
oca ecp256-ca.pem ecp256-ca.key.pem nods-leaf.key.pem nods.example.test nods 1002 nods-leaf.pem

# A leaf with an unknown critical extension.
gen ecdsa 256 critext-leaf.key.pem
oca ecp256-ca.pem ecp256-ca.key.pem critext-leaf.key.pem critical.example.test critext 1003 \
  critext-leaf.pem

# Two CAs that certify each other (X by Y, Y by X) and a leaf under X: a loop, anchored
# nowhere.
gen ecdsa 256 loop-x.key.pem
gen ecdsa 256 loop-y.key.pem
self_ca ecdsa loop-x.key.pem "$O, CN=Loop X" "$VALID" sha256 "$TMP/x.pem"
self_ca ecdsa loop-y.key.pem "$O, CN=Loop Y" "$VALID" sha256 "$TMP/y.pem"
$P --pub --type ecdsa --in loop-x.key.pem | $P --issue --type pub --cacert "$TMP/y.pem" \
  --cakey loop-y.key.pem --dn "$O, CN=Loop X" --ca $VALID --digest sha256 --outform pem \
  > loop-x.pem
$P --pub --type ecdsa --in loop-y.key.pem | $P --issue --type pub --cacert "$TMP/x.pem" \
  --cakey loop-x.key.pem --dn "$O, CN=Loop Y" --ca $VALID --digest sha256 --outform pem \
  > loop-y.pem
# Three more of each (same names and keys, other serials): a dense issuer graph.
for i in 2 3 4; do
  $P --pub --type ecdsa --in loop-x.key.pem | $P --issue --type pub --cacert "$TMP/y.pem" \
    --cakey loop-y.key.pem --dn "$O, CN=Loop X" --ca $VALID --digest sha256 --serial 0$i \
    --outform pem
  $P --pub --type ecdsa --in loop-y.key.pem | $P --issue --type pub --cacert "$TMP/x.pem" \
    --cakey loop-x.key.pem --dn "$O, CN=Loop Y" --ca $VALID --digest sha256 --serial 1$i \
    --outform pem
done > loop-more.pem
gen ecdsa 256 loop-leaf.key.pem
$P --pub --type ecdsa --in loop-leaf.key.pem | $P --issue --type pub --cacert loop-x.pem \
  --cakey loop-x.key.pem --dn "$O, CN=loop.example.test" --san loop.example.test $VALID \
  --digest sha256 --outform pem > loop-leaf.pem

# ECDSA P-384 root CA (GeneralizedTime notAfter) and leaf (ecdsa-with-SHA384).
gen ecdsa 384 ecp384-ca.key.pem
self_ca ecdsa ecp384-ca.key.pem "$O, CN=ECDSA P-384 Root CA" "$LONG" sha384 ecp384-ca.pem
gen ecdsa 384 ecp384-leaf.key.pem
$P --pub --type ecdsa --in ecp384-leaf.key.pem | $P --issue --type pub --cacert ecp384-ca.pem \
  --cakey ecp384-ca.key.pem --dn "$O, CN=gw4.example.test" --san gw4.example.test \
  --san 2001:db8::4 $VALID --digest sha384 --outform pem > ecp384-leaf.pem

# A CA nobody trusts, and a leaf it signed (claims the P-256 leaf's address).
gen ecdsa 256 unknown-ca.key.pem
self_ca ecdsa unknown-ca.key.pem "$O, CN=Unknown Root CA" "$VALID" sha256 unknown-ca.pem
gen ecdsa 256 unknown-leaf.key.pem
$P --pub --type ecdsa --in unknown-leaf.key.pem | $P --issue --type pub --cacert unknown-ca.pem \
  --cakey unknown-ca.key.pem --dn "$O, CN=gw2.example.test" --san 192.0.2.2 $VALID \
  --digest sha256 --outform pem > unknown-leaf.pem

# DER copies, a two-certificate PEM bundle, PKCS#8 copies of the leaf keys (strongSwan
# writes PKCS#1 RSA and SEC1 EC keys).
openssl x509 -in rsa-leaf.pem -outform der -out rsa-leaf.der
openssl x509 -in rsa-int.pem -outform der -out rsa-int.der
cat rsa-ca.pem ecp256-ca.pem > ca-bundle.pem
cat rsa-leaf.pem rsa-int.pem > rsa-leaf-chain.pem
# CERTREQ reference values: SHA-1 of each CA's DER SubjectPublicKeyInfo, by OpenSSL.
for c in rsa-ca ecp256-ca ecp384-ca; do
  openssl x509 -in $c.pem -pubkey -noout | openssl pkey -pubin -outform der \
    | openssl dgst -sha1 -r | cut -d' ' -f1 > $c.spki-sha1.txt
done
for k in rsa-leaf ecp256-leaf ecp384-leaf; do
  openssl pkcs8 -topk8 -nocrypt -in $k.key.pem -out $k.pk8.pem
done
openssl pkcs8 -topk8 -nocrypt -in ecp256-leaf.key.pem -outform der -out ecp256-leaf.pk8.der

# Signatures by an independent implementation (OpenSSL) over a fixed message.
printf 'ferrogate IKEv2 signed octets test vector\n' > message.bin
openssl dgst -sha256 -sign rsa-leaf.key.pem -out rsa-leaf.sha256.sig message.bin
openssl dgst -sha512 -sign rsa-leaf.key.pem -out rsa-leaf.sha512.sig message.bin
openssl dgst -sha1 -sign rsa-leaf.key.pem -out rsa-leaf.sha1.sig message.bin
openssl dgst -sha256 -sign rsa-leaf.key.pem -sigopt rsa_padding_mode:pss \
  -sigopt rsa_pss_saltlen:digest -out rsa-leaf.pss-sha256.sig message.bin
openssl dgst -sha256 -sign ecp256-leaf.key.pem -out ecp256-leaf.sha256.sig message.bin
openssl dgst -sha384 -sign ecp384-leaf.key.pem -out ecp384-leaf.sha384.sig message.bin

# The CA keys (and the keys of leaves the tests only validate) are needed only here.
rm -f rsa-ca.key.pem rsa-int.key.pem ecp256-ca.key.pem ecp384-ca.key.pem unknown-ca.key.pem \
  rsa-sub.key.pem loop-x.key.pem loop-y.key.pem not-ca-child.key.pem nods-leaf.key.pem \
  critext-leaf.key.pem rsa-sub-leaf.key.pem loop-leaf.key.pem expired-leaf.key.pem \
  unknown-leaf.key.pem rsa-pss-leaf.key.pem
