//! Known-answer tests of the IKEv1 key derivation (`control::ikev1::keys`).
//!
//! SKEYID, SKEYID_d, SKEYID_a and SKEYID_e are checked against the NIST CAVP SP 800-135
//! section 4.1 "IKEv1" KDF component test vectors (CAVS 17.3, files `ikev1_psk.fax` and
//! `ikev1_dsa.fax` from csrc.nist.gov's "Component Test Vectors", KDF135 ikev1), in the copy
//! NSS ships as `tests/fips/cavs_samples/IKE/fax/` (github.com/nss-dev/nss, commit
//! 9d75dfde2e791c38fdf5ea7f3da9609c46d8a4f8). The excerpts below are verbatim subsets of
//! those files: the first three COUNTs of every 256-bit g^xy section with 64-bit nonces
//! (SHA-1, SHA-256, SHA-384, SHA-512), the first COUNT of the 2048-bit-nonce sections (SHA-1,
//! SHA-256) and of the 2048-bit g^xy section (SHA-1): 15 vectors per authentication mode.
//!
//! The Ka (appendix B) and KEYMAT (section 5.5) expansions have no NIST vectors; they are
//! checked against a reference written here from the RFC text with `hmac` directly, so a
//! mistake must be made twice, differently, to pass.

use control::crypto::SecretBytes;
use control::ikev1::keys::{
    EspKeyLengths, HashAlg, Phase1Keys, child_keys, expand_ka, keymat, skeyid_psk, skeyid_sig,
};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

/// Excerpt of `ikev1_psk.fax` ('IKE v1 Pre-shared Key Authentication').
const PSK_FAX: &str = "
[g^xy length = 256]
[SHA-1]
[Ni length = 64]
[Nr length = 64]
[pre-shared-key length = 8]

COUNT = 0
CKY_I = 83d374c30b3b5082
CKY_R = 5afc0da06c728029
Ni = b9a2d0e922dc66dd
Nr = 2130166863b5ddef
g^xy = 739003ba2c11c982946c65e26acf661fbf8ebb78011a9fead79efa12fe3e71cc
pre-shared-key = 75
SKEYID = 62b04d112877e442fc3282fc37c076997718a0b9
SKEYID_d = 369e5aad1bdb5faf6a3d929d500cdc236710a9ab
SKEYID_a = 588e957d8d790d093b3a39f121473473af78e9bb
SKEYID_e = cd74b0c048219db81384d3fda8f6cda51e398a2b

COUNT = 1
CKY_I = d1cbcedddd3c7b09
CKY_R = 4d61a7826f1044af
Ni = 03a6f25a83c8c2a3
Nr = 9d958a6618f77e7f
g^xy = 04e2d98b6ce1ae11e954482b308034ad4b9ebf9332512b01f5269eadad43d503
pre-shared-key = c0
SKEYID = ab3be41bc62f2ef0c41a3076d58768be77fadd2e
SKEYID_d = e6e275b990aa3e075987aa28bd5c7bf9e9389b3e
SKEYID_a = f0405e6da81e8640c84d913a53f01483b7e3d34f
SKEYID_e = 8e697c4bdce92234114b59aa0e634a381ad797fa

COUNT = 2
CKY_I = 00850dcd01dfbb65
CKY_R = 9d1b436d5225ceee
Ni = 8ab715a3d645c432
Nr = 4f28a80cbf88491a
g^xy = a66ac68310eede0f1881ef40573cd5d57d6efc0e1863643813701c01efe68584
pre-shared-key = af
SKEYID = 9780a9162549b7cc992630c1c10d26eaa3b2a2df
SKEYID_d = 4bf7be14152f52c8d30dea920527b5d5b18ea5e1
SKEYID_a = 3acf3336180d9df5cb2aa2cccccfa170536aeb93
SKEYID_e = 68e4d56abe94777c755f8c05452bbf5a7a63c096

[g^xy length = 256]
[SHA-1]
[Ni length = 2048]
[Nr length = 2048]
[pre-shared-key length = 224]

COUNT = 0
CKY_I = c3ce11d26527489a
CKY_R = 40c48632b736e43a
Ni = e35329b17ef4d573e9f0cb60d58b4f6532356296dbd89476cd9e5a914887c7280d4be826c9b7e2e52738f14e04d086ca24eb953096d4756b4d8e069a0eb41fc9911e85d8bde42e80acc7986880fc9d2ef1ab388044442391fb6d7386f7988600748e77ad05d7af824a6081c36b1e5786970f1cd6a3cb7912dbfdcefd10f90ec36b7ab8b495f0772a4b13da510d2ebf24c47590c2c181e381db573edfedd870eae27ac2cd8051b056f9f00ce6a002846aa13440a9ff2c11140c0d7cee6a8368bd88fe7b43f2d33c81006d29b013f9b9013ecd6a320d46be9b68e67a3fcaa429bcd1b6e1da1d415dbb981f936dd7d5ed94ad8a5a88c058b1d08d918fab225f4436
Nr = 42ae3276f16c333e8ecbb505b68f60da794f1099e444576279ab838f5039b89e889fc3d516ff0374a6fb96ff928e22ef77a6d65a8f66c0e4cff0ad65e80be619f3ff415c29e815393514a6c2e497ecb461cb14bde11babdffe0833faa5d65d1e99edf064554c81dd408a396cccd26beda19f2813e249a17bb45204ca296936cdec0ad9ed0a3e5c31e69ab7412d74024631fee3cfa003794fe948b78993b3b11bf1f2b964133b01bca63dfb47960eaf6ba6b08e9217ecbf883f359a8cda0b3a5fdd0cb52d0016d1cf802da84a217e537cfa8cfc7d830906c7427f242be64d360b928458eeb8a0c6c59b7c6e0a93e0851c8d76c9f863e314766c8d93b830510cc0
g^xy = c2aac098d71afe7cbee05d7143e48afdb7152139214d1a1a912175c7c9d0f51a
pre-shared-key = c7a450fe8132a2a9966bc98b0017f56054e6df7fed07a90985f22a79
SKEYID = 5566a72cf6bcd1f3444b8967641815ec123f0f88
SKEYID_d = b76468536b839d73cd421b0498639e6ce064e0ae
SKEYID_a = e2bc2d083b64d3b3c9c4506a75da3f896f8c7d8a
SKEYID_e = 08ee6fd95d0449d3f23e4504f14b277f561651b0

[g^xy length = 256]
[SHA-256]
[Ni length = 64]
[Nr length = 64]
[pre-shared-key length = 8]

COUNT = 0
CKY_I = 4e30e8d4da0fecbf
CKY_R = cf8ce1348665f112
Ni = ead9ced494868f41
Nr = f1aff4f425a94f18
g^xy = ea6c7c00e276d86adace3368f0c8245c3e486b8c6c1474a533b7da3b9c9b3f1f
pre-shared-key = a0
SKEYID = 558a99b299773d267cf7c8ef073bf3b7af362c206c75a538403c5ef884d4cace
SKEYID_d = 3b4bb2bf33fc3f002c84f59370f39ac705ea8efd299f64aaf723b7995a2b1560
SKEYID_a = c78ad634ec47feee88cda902731e731eb594114db6a1882bc2c948ee9765958c
SKEYID_e = 33b10be0f43bc5984a86a1470c48ece12290915589b8c73fa5c7b8faf2bb6503

COUNT = 1
CKY_I = 9a5b9e2fa37f1bf8
CKY_R = f59e0989df941537
Ni = ae16a60271bfd741
Nr = 0f5c42253656505b
g^xy = 0c4dff4c2fb8e0ca1db9f94485fb6031036868cb1f9864002276b8f36459e543
pre-shared-key = 25
SKEYID = 5bed2fdeefbb90af626a5972e06977338e992968d62b2c3a9cd4ad0a186ce691
SKEYID_d = 75d7e2c8efa4022293ea429b0492fee965553592a3625fa6dcd8ada3b5757071
SKEYID_a = 13c31f548d5f7054adad7cfa401d41536c878d3f303d3302d6e2bfd5bb6cffd5
SKEYID_e = c10bfef989f2077bcd690d49e25149af2f9279648e9ebb9f0b737d3b9986c68d

COUNT = 2
CKY_I = ee6f6035fd41597b
CKY_R = b4e44079cacbe574
Ni = 507a1a4bfefac93b
Nr = a55cc141485d2cce
g^xy = 3a25ef6edca39936773cb1981d151699be97aff19fc774f9aeb9238ee227fc05
pre-shared-key = d6
SKEYID = fac0372193c0e1bd3c72f6e2989326c68b3faa7e8a41e0b2eeea64387c8f4a48
SKEYID_d = 568c92c4115eed3a2e4e93e3c46f452f46fb8e2b61fd256b8b79a91053117f7e
SKEYID_a = cc58861268448cdef18f51442b910c4521da470b5e84ad6c181769c0bf1b13a4
SKEYID_e = 9ebbf3736fc89ba37c6ea887ca6c5abe1b31c1db6aa228136a91c29865fe5dbc

[g^xy length = 256]
[SHA-256]
[Ni length = 2048]
[Nr length = 2048]
[pre-shared-key length = 224]

COUNT = 0
CKY_I = cef00e27d201b743
CKY_R = a9f866a0ee47154c
Ni = 754d8b470aef2ee7d9ebc2f993230feab96b55cc0983be34c47bccd4af2ecfabb6fca757aa2a9b7c32ba000d943cfd2aabb3bca91e62bfd91d7357023e79a35124b9bbd469c7230aceb7f8cafe3ca06344072b30f38a1e1c442282b2afcc6dc46ed9caec67439957b60fdd5a685af4c60e8e22d1523473a92f8c9b272b2ef54a366432cbdb7fdac36b97b878e7ec1b4f3023bdbbb8f6465cbc0ab1b1371ab9e22e821ec4984cc11a1ec3a82796d5934bc3a3f34350c1e04cb204cb7180cc179e34e8f781c31fed51b50391cec5333d089ce409843ffcb12cd360185e97f60a0136fc719eaf39244b2c44f73bd3ce2e9f67a74891e729e94efdfb467f3c66575e
Nr = b68de83a011314c1e2f846b834d4b7239f3a3e269c39995af251d9088da4a0f8f826be762fcdba7aaae8ad3d61dddc6924a219ac8202784614c1c5003b7b199126b00f518d59c61a7bcbce207e779d7aefd31fe46748ca03e3e4a023859da2270fa23756ed359d2747c66f302387f3c8fc1f38b2ceef1337b7d2b8e69df16e3b24cb53f785dfb7a14b7529cfac6901c21588b0207143133db8a8c43b00477714c96cc1a009961e5b511d9674304b9ff78d7625b23d11a75d8aeef1d9ddaa14d338c71604911793d532c78e1fdc32751253e6945689213c54c91340d4e17800c3281983b63df2d0cdb3d15964887a6b5d9f12147eacbf4947fe563884405fd567
g^xy = 9f7e3fd7e33e01d419094ea3b0b43d273d41ecd1ed00c2129720543c339c52d7
pre-shared-key = 65d2c5c0363143554d8513c86d1ebb7b478a41f308f0aee3e1acb0a2
SKEYID = fe3db842d5ab1cc9ac05a1a707d1e39ec0bd081a1401f44a2e1d3e1555ba2593
SKEYID_d = 4f1a1a9d9e0c0929a8b97a9a8a642771fcc61552067a91a04f9d1c257771339c
SKEYID_a = c544b86c56ef4009599ed9bbf36814f8e6001b14746b11f2e656a15d26b3501c
SKEYID_e = b15f397fb1b3537a7384b592d6c7d985a1ed7deda270db035d271b1972b9f38d

[g^xy length = 256]
[SHA-384]
[Ni length = 64]
[Nr length = 64]
[pre-shared-key length = 8]

COUNT = 0
CKY_I = 9ccc539d30d4f929
CKY_R = a88216c6e1824511
Ni = d6596b7e5b398534
Nr = 136fbdfa8d0ceb8e
g^xy = b2d1434e169be2b6463f65c958ebc51a3f2da220bbe66b7d7a7d14ca4a7724c7
pre-shared-key = 9e
SKEYID = b54fa27cb4251051e44a659d73591845691d11f1874bf4e4088e5df6462d28e57a3a2af3ab4f9b746a8f5766f8785f2b
SKEYID_d = 5d168e1223d7e375b159ce3ead6aa46a194b59e96168db061ea571b87edf843f26ea41e5b54b23a6f5a037318830640d
SKEYID_a = 04cdf9df4afa53d3884624f7612768a0e4a01c1c5471315c5c99867831be20b4a55efbce9091c9eb69741d704dfe5e74
SKEYID_e = 3849065ad3f9ab2ec0f61c5c61b0ccc04f77d9ee5092a132f679972dc9c75c9334aff957b4cbbaf54cb65dfae1b55417

COUNT = 1
CKY_I = 3ebf60895a460b99
CKY_R = 7864d4e7cd455474
Ni = b94abba7d44e19fb
Nr = e38ba2d34b1a11ee
g^xy = 383f9fb22fdc223fc33a74ce362f3e0229f3f80a0b1f20a4b91cef45cf8c7565
pre-shared-key = 65
SKEYID = c4075e7cf6b46c5100d254a5fb42e940a57f947dc99ce7ec26bbc658b8297e211226c9700779ce042f29383467e81e91
SKEYID_d = 4b19dc72acdce665571d0d7b3e36958156b98f067fc24f44e5b92962464771b2d3d19aeb57fd9dbe8c2a17646f15a402
SKEYID_a = 33bbd10b3597ca323838e00280b8d7168685920032cba2f43614d5335f054b36d961bf25251a4a054f726fc85408794e
SKEYID_e = 5eb2dfff5840dc08bfae4f3535cb6f6e97a943a03ca3d428e38f1a73890b95ef16c4804c17688c25855ebf3eda72838f

COUNT = 2
CKY_I = 06075984ee772a80
CKY_R = 20c25c19377f5218
Ni = c94f263942b6ceaa
Nr = 585b244d663f0e60
g^xy = 2f950108c9caa976a329f7bc27e939ce8b76e00e32183b2b34eae07e70a4dee0
pre-shared-key = b5
SKEYID = f73dc3eef914a265e4aca4044b2d4755ab6dc2891b792911272bbd9cdf153bbc9d8df5c7c5a6414b3678ac9314efae16
SKEYID_d = b8c1085b5091147d108895f22708217b03cae9524bf749c16752124deb5adcba495b673e211041f5554a41ef7a596454
SKEYID_a = 0d099763f55a0d509337f4492d547c34d6dac0fd5e770b151e9c2581a951eef25d2a14ae9ae214a6af01e675b05dcc2b
SKEYID_e = f991433d97ae9a5dbd49575b290c85d66311e38d60d7a9bbd5946e52872755cab98849b73ce3148bffafe89b40c2bcf1

[g^xy length = 256]
[SHA-512]
[Ni length = 64]
[Nr length = 64]
[pre-shared-key length = 8]

COUNT = 0
CKY_I = 2ce3422d3dcba7f5
CKY_R = 82ca94cbe7b77049
Ni = 482a05eca86fba51
Nr = 84ee19d02272de2e
g^xy = aea3ae089168001f2e4bd693bc8303ad094b71ec57921bb0f9d1252c09c46ed1
pre-shared-key = 4c
SKEYID = 5bcb5499ae4c1437ce6c195392bf26bf7980a59bcb787a0b58671771a3d4b06dc1eb7809241b7e5931740b05bf8a9873bb493c5f067e28e4f58ab65c3dbe44cd
SKEYID_d = 7be2bdc8c03d05b5932b95387cad909718dace7bf9e4eeacbaae431d6521828b70f8a6011640927eae4ebbf72f3dd154040b7ee7ed2fc15683190d3da50ac7e6
SKEYID_a = 75149f3f671435eafafb3868eff58a6367ebbb50006c8723ccead82fe49967651decf63a079b0ffaa241eb341a90d612876e76866450739e49f88ba306861b73
SKEYID_e = 39dd0670384325de75cc2dbd681d15423b630e93e5fefb0224f1defca1a9b0fdda61f8c922428b00cde4c386c4ca8898a48969e4c19f1fe30899a6260c5d8d46

COUNT = 1
CKY_I = 87a5ef82edffa24a
CKY_R = 19c1bb2c63020359
Ni = 2f22ff3b764884fe
Nr = a44a2da2fd7153df
g^xy = 33a5510c07fb8f19f7eb1aa71dc0358581f606e061ace6660f6d55ffed6c8d91
pre-shared-key = 99
SKEYID = 63c07fcf1b4ac4ff1fdd30c2eab72962393d35c197335bd6a6abc8350e25452ac360d11818c2083da8f7f7053fb228ea8158fe4348b6c83cf77ef14c92bed3c7
SKEYID_d = 92c0d4d9c3fea94f3323eff04e14d4f14960bb14e6628bb873ff783772a86fd2fb561ff6af71e36706da66d84388fa56040e6c69671f78bf6bbc34ec9da5b667
SKEYID_a = bcb0e255273e6e5dec0c2dc9ca639d883115d78ff2b8aa47ac7288256b6fc87c6f32678c1736bcca7f659a23abeb6cc95daea06e5a55907930d37565f5df0557
SKEYID_e = 4b9592e68a9f3bd13836425ae11978c07d649987969a92f4887809f879949ea863084c7911574026b438290dc2941705b4f2ea039c222cf02fd5b25e88fbf87a

COUNT = 2
CKY_I = 21e18d4263361409
CKY_R = 8a84715d2677b3f5
Ni = dafade5e6f3feddd
Nr = 176bf5f19b54447a
g^xy = f6c607655621dca7012d9ebcef6fb0ac23ca5d59f558c9fa04b037cc7af9b62c
pre-shared-key = 7f
SKEYID = bb83854cd0e184210409b55ab256395a6e3ebd5bb3e15702303117b77df8ec60cee09906aae3df90d3143cf2a473a2ded4e4dccb8bde7351d78690ad5d8d4c34
SKEYID_d = edb74c292cf7c54a4d142f48198d41baaccd033ccf05582d3153dc0313fecef1d74ed2e94dcf82891526785f409ad8269b81f5f43fdc5852a9efe07135a272e1
SKEYID_a = 8472dca4133f8b4f6eb322da02ea65ba574a2d2fa35c722d6026daa7c4830ab41a79f809d4522a28b25d1b337ba9131e12d2b196664094748666870ac4a4ae90
SKEYID_e = 04720ccd1ca6ec7f2d893e271b583366f79728ba3098a281666923fcab268a1bdd2ed613217c0c47c8f4b5752b97487a3e5948125c13f2f2d834adcd77f00313

[g^xy length = 2048]
[SHA-1]
[Ni length = 64]
[Nr length = 64]
[pre-shared-key length = 8]

COUNT = 0
CKY_I = e8bbc995e70cc390
CKY_R = 6b4c4c8303c9caf7
Ni = b9ebb54a863ac278
Nr = 426b751a44465856
g^xy = 73c4a9626fcac2411e8f2fc583f4cf7b7c1e0e61deac20b2820c0770b12c377835bf5f4b130168a8d2a933e0ea282bf26b71778a2cef478a0e60f79e618720ae9b9ba7f75aba7eee86897d0d5a5fac3f5c94780884416fcbd96a28574dd13e86a46ea78d1b97ec1d7ff5ba99af48301a49b6a5f90239d22dce9c8c658a3df439d6f3ea291d9067d0a6770221140d6c62eebaaddddfda56a4e92f3ac36de357772e1f2d688206f8c62b85c076ef99d721fe7d344f5117d7c1499ac148697036c6f358bc6b2aa176dd8dee05979b4715a58f8e20062b3191fe0604893bb781dd223c032984f5889b987b08e74a1225ec325948d913bd2562e7608142d4d5a1351b
pre-shared-key = 1b
SKEYID = 420180cc4c76ec5e810781341c0e29f37c648c77
SKEYID_d = d37b1d862f4f31ed2accfce0e8f3d2808bde2097
SKEYID_a = 4038e6fe1623ae5e183acd1a3137d39420399a7c
SKEYID_e = ac534425054482ae627443d8c718b27bad4f048d
";

/// Excerpt of `ikev1_dsa.fax` ('IKE v1 Digital Signature Authentication').
const DSA_FAX: &str = "
[g^xy length = 256]
[SHA-1]
[Ni length = 64]
[Nr length = 64]

COUNT = 0
CKY_I = 8c3bcd3a69831d7f
CKY_R = d2d9a7ff4fbe95a7
Ni = 69a62284195f1680
Nr = 80c94ba25c8abda5
g^xy = 8ba4cbc73c0187301dc19a975823854dbd641c597f637f8d053a83b9514673eb
SKEYID = 707197817fb2d90cf54d1842606bdea59b9f4823
SKEYID_d = 384be709a8a5e63c3ed160cfe3921c4b37d5b32d
SKEYID_a = 48b327575abe3adba0f279849e289022a13e2b47
SKEYID_e = a4a415c8e0c38c0da847c356cc61c24df8025560

COUNT = 1
CKY_I = 7b4d15ccfacaed63
CKY_R = 4d25554e2513dbc4
Ni = 59982b5ba57e62c0
Nr = 460defc71e186463
g^xy = 1c07321a9a7e41cd880ca37adb10c73bf00e7ae3cfc6fd8b51bce2b990e6f201
SKEYID = 0c2af3429715621d2aadc9945a9026fac791e24b
SKEYID_d = cf6fea033cbb1137f8a1f4bd5557b58bdc0caa4b
SKEYID_a = f89aa5c017628a0e358622489f72ef7944a9c56d
SKEYID_e = 144f4d082000ec8e69f1ad014a58e158a8d56d43

COUNT = 2
CKY_I = 5e7dd5089a6a8ec9
CKY_R = b37924065657c4fe
Ni = 6952fb00e17301f5
Nr = 9c0c8a81ee8408c2
g^xy = db87b41b1e914226122ae4b3948f022efabf685f4578032a2f0a0ad9f94dd954
SKEYID = 99f4bfae5429823790ef79dea9d602c14e2de7d6
SKEYID_d = 84975b4f9ff2fcc8586474b7cb48e8c886d31734
SKEYID_a = b5b5d0496be1e2f61d0f79000adb423e44e11400
SKEYID_e = ff058d5cd70a53e6f274ab1fcc7c8f5f307585d2

[g^xy length = 256]
[SHA-1]
[Ni length = 2048]
[Nr length = 2048]

COUNT = 0
CKY_I = 7eab81c99a628505
CKY_R = 788dc9a3baf69841
Ni = 62d531bfa50436de84eafc29da5788450b1536b66cacdfc0dcd80c869714ac81558937e2409c6948f0cb50389ff331fbf5b28669f6fcff9bd4ffca41f24a944de9b86fb22011f4ab3c8281dcf5fc1f39dd0f113639db708ff055c98f1ead817fbf580fe4d312325ec20eef8389d2b3bb851b308c6ff8eb472cfde505aee935cb39f741e983175b6c47b5b76c1c967eb18050de03aefd49d9f43f19d015c8f7d6cca201202bde98524dd84a0929f15b55244ba230d9e2f0e541bd8d586bc7e3083a09dc6de9f41396b66598ba679a2b847b3787f24dbc286c56205e7c2b6702366a836ad9a9b91d01f344b9fd3f926e790ad23501aa7e36a44a2075de983c63a4
Nr = c4faa7b0edc506c3c22f83f7e93f9cb582f1639a7af7a3ff2b96cd100c38f04d4327ae2a3c5220f4516a909a231f67ab7a64e5fa4b2d133018e3917d5c7542d362c4afa564065bbe4a6809f54b2cf357509b482c19f876620d504d89a1293f7f64d76d94942dec51ac47b1a3fcc8b2061a9fb84f7aff1c4673cf769ff295a0a1129893363f3e303ae89f8c46b3fe034a8390dd5a17d8ff5fac836af36ff959835758ea84924d7cbd3e8c68687d47097e5780d453eb102313feee35cbcf4e79b23c10ca33d094f9429c5457d4fee8846609410942ca232a492600fb26e18e2fb65dccf44d9095b1b3fa98b25b57764071da00dae97a4996de212ef71464fd5d2d
g^xy = 07d42c91777e6b715ef44f0b1c9e913da2f82ff60b50895b2b0a3dcc8bebdaad
SKEYID = 82f20ab4bb9917bc53b15bbef827e4679c62688f
SKEYID_d = d8233405c1ead6e3c790156b5209cbf7eb9a158d
SKEYID_a = b7199cb4f57738a626a5944236b07cc75c520eeb
SKEYID_e = 8902479c402323dc42869a758f065e311f7473c2

[g^xy length = 256]
[SHA-256]
[Ni length = 64]
[Nr length = 64]

COUNT = 0
CKY_I = 30293584b2cd84c2
CKY_R = 2402d7e8cf6958ca
Ni = 9da2d58f57f039f9
Nr = 204e0dd0ef04f372
g^xy = 33f17afcb6134cbf1cab59877d42db3582226eff74dd37eb8b75e675645fc169
SKEYID = 804b4a1e0ec593cfb6e454524149396de234d0dae29f34a8fdb5f9afe76ea652
SKEYID_d = f8ee9b1e8b7c03cf1595f7e197b0d873c5665453d512978c418823f53f18e055
SKEYID_a = 3c9d88515fdd981741b99c482e8d88dacdb6f9fcec2dd22af286087174645f49
SKEYID_e = 960563201c344d72797c3f92d81a1c36c7dbe9cbd59780cbaaeba7aa23deaf3c

COUNT = 1
CKY_I = 817af8dc1033f2ec
CKY_R = 9aa77cf0bf54565c
Ni = fb9b02871f12328d
Nr = de432595b6781d9b
g^xy = 11c22b7855d0e77c10bce08c2b42e9bafae426d0e9c855e955c5551e5026e66a
SKEYID = e3b8022d40b252c901a1002edc0fc1686307f546f4b1aa8e11088f4ea755fc18
SKEYID_d = 553c2784decb7ff606d9b8416ba5b958fc50b6d2714f580af06701cf5d4fb3ec
SKEYID_a = 058a050d855a06b2bc254347b26747efbb88c61e7aecfcb75983735f37852b77
SKEYID_e = e1cc8ffea2e2d1887419a85ace1e067f94ed0b920512e3561dcd7ff05d904f50

COUNT = 2
CKY_I = 53eb867eab8c5452
CKY_R = 566d1b39f6ba2f65
Ni = d1ffd32aa00d87d8
Nr = 8f96b5ef9aecf248
g^xy = f0e7ab40ed5cecb2c1be68a4a41cc3898df2bddf9117ab0b4f1f51329f04aba3
SKEYID = 7c0d072ac10e37d14d2955722f26091bd03a695fc2a26cc99e28c8d101866989
SKEYID_d = 8a37642e8d32522569191d16c59f2a45820a60f3c4affb0066e85261b7e85b5b
SKEYID_a = bd2278967109136c23bbade0c9b9f1e11743dda9cdf0860d8d5ea2dd35616821
SKEYID_e = b80441395326c1be7c4e0e9de16dc787eb6f1ce3a844cce042fbfd74d5bfeef5

[g^xy length = 256]
[SHA-256]
[Ni length = 2048]
[Nr length = 2048]

COUNT = 0
CKY_I = 6c6beb72631ddc3d
CKY_R = b84e24b22cffbd14
Ni = b1dee62505b47b223bae14ce7a5b757402ad1587511618d09f94950d47f1d8d4ce86aca12d78db9854d86019ad735757ae79d8932ac0c7db842c85060150ca875ea5d47e3cfcb2a05922ebb7959d49b9797a2289676ee79a1d9a18b790f87e4771ddaf4be3376057a553162f68fe429aca73b07234543801ba2122b1bde82251770d05df813cf556a11ca4dc43ffcb85a97dbed16e2fda6985e07e31be6364899e63c507c7c616e5eb7765a53560f76772de43918ba07badfe85244dcdcd917cb065afb60e3b7e68b54dd94bfc7c31c8b752892781ed3cc4b7f28fbc0ab9af908f5ae1f09f893f80100a7b3135993161b51fbba3bbb24b9f88c6147de82cd6f0
Nr = f0acfef2ad1f7add0eaafda78c1cf1097d9fc91cb04a7c145069ac426fd164cbe661b1dd2df0fb84e19512181f0d8ea50b7860845f332757a8e56d2a3b7be436b5718a2d49baa996a4616684a208c2d611cd65e605dca6e3d3f116859b4410fe13679696bb2e23c08a40c7e1316d54b4c9c0286701c221151b3642cb4112ca1a53e0e597a7e29c634caed86ca3c31973d37b4c346134fd6784cd99913feedf3d29d89a0a02a5a750f02f5738109dcc670bb27701fb59f78e83b76860c3fec079a1fc8c937ddb58ae7500422b7e49ce63759c65b6bc439381d56bcc159edede894b073841036ebfa050a5b3e7c876a3f18def26b1768a263ac66c9d83b680eb5e
g^xy = a1ff3dc6cf9b4c04709943cb4ca1f1789bcf360b03f1d027de3ae8ee039e9155
SKEYID = 750c5c94b9c2ec20b68033e024dadf0fa87e8b48c6561b21c72478451a06583d
SKEYID_d = a4f7ca7de913814813e3312099e7c943bd293483f387532330237f1b20957310
SKEYID_a = 1d4b705746c43b0a6fcbb8db33983c0f24ff6f8b6543e3779fed227c6067f004
SKEYID_e = 03e6f16cd9ce9f64b5cdc5b34cca7163483ba5389a30afebef3d14640b0a815e

[g^xy length = 256]
[SHA-384]
[Ni length = 64]
[Nr length = 64]

COUNT = 0
CKY_I = 1c8aba986a00af0f
CKY_R = b049d9672f73c920
Ni = cec89d845add83ef
Nr = cebd43ab71d17db9
g^xy = 1724dbd893523764bfef8c6fa927856fccfb77ae254358cce29c2769a32915c1
SKEYID = 6e4514610bf82d0ab7bf0260096f6146a153c712071abb633ced813c572156c783e36874a65a64690ca701d40d56ea18
SKEYID_d = b083234e9ed7745911f93eb31faa66fcf88906266830eb17ef166d295cb1f86a3543b8b8efa5df918533df537e9c809c
SKEYID_a = 938295a374aceb4147a8024c9a007dd313403fd8fd7070dbd0cfbe1ccd308dbfbb7b9e9c64049e4df44ff551016cb7b5
SKEYID_e = 8595b249dc1fa8599729f87eb6b9dd13bfbfdfd4f9ebd78929bab6ecc402539ad32cb6e7ef4ba6a0f53da14e4df07ed4

COUNT = 1
CKY_I = 4658920476f55f56
CKY_R = 0303b791f636b04b
Ni = c1197774bac1a341
Nr = d4f59910ee13f3ff
g^xy = 4e71f015387f7cb623e63e38683cc7530815cd66ef8d3e63414ddfbb0c94e31a
SKEYID = eed05e4e207b5a0c54f7a4ec3bc92289f21b320f8b6b07c5de391231e3af3c28e32e9610f567fb4ccd03e7bef76b1673
SKEYID_d = 631465369928c64f4bc8c7144c58c1e33a704de6dc2e23730b7060ba697bb4bf8a5182f76b3f7693df1ce3d0f2716fc2
SKEYID_a = 7d6933009cbe804e30376cab9b6dd9899ca2843b0a902fa0140d2f6626322b32e3167651862ab2dfee4da68022d3b23e
SKEYID_e = 42b2ac39014de7adbada1ebd0f74b8ee16d0f8c8ba2a3fd62bd320d44dc554d7d90b29e65a77713e920c07495aed6683

COUNT = 2
CKY_I = d3a1185b4421d0c1
CKY_R = aa45821b96d9a2ba
Ni = 61dbf24962417ed5
Nr = 6fb3ffa3dc7835be
g^xy = dfef3d69fcb86844dd34609f79c56a9dc1d8415f0235a476aeb94188eb1d1c58
SKEYID = 6f1901c8abafc71e0c1fb667576485e81b6ffd64c850afffe2a85eeee24628d06ee59135d4bf2677db00964f352d9815
SKEYID_d = 7c25c77c3d40080ace4dd98d3a9e40855a481641325cda6924706f558c01554ac2c8c5a7a555003501139f26387cdc81
SKEYID_a = 56414df924370125c7aeda28ce475de7f62a7f3e9ac096ff6e2faeb10edd881baa8d678d3adc88e5c5ab8577229ab50d
SKEYID_e = 453e9e5ab4103a81b8afe48b7fcee1f3b5a20bbaa68deff62d4b62d9ebf63c57216db0a57b788b3d030763304fe248c4

[g^xy length = 256]
[SHA-512]
[Ni length = 64]
[Nr length = 64]

COUNT = 0
CKY_I = 1ff4d76565b3151a
CKY_R = 1f11b8eb20d57a16
Ni = acadc6314a69cfcd
Nr = 4e4ad17718fea7ce
g^xy = b15a9cfce8c8d7eab879d6243029d40188d3b740875a6ac62f56cac4377e2edd
SKEYID = f05aa036dfce45a558d40418dea98096e519bc7841e3db3dd93658d118c3e83b502f398ecb1361ec77d38a8855efff407f6f772e5d65b58eb1134096e8478d2b
SKEYID_d = 3c4be16a631aa49018fa6740745a61ab1f1a2455a96e91f159a134ccfe30303d68721696195e95bfd530510ef2f9532491878710944db7854f00ad13c68fca01
SKEYID_a = 15ecf5c80b675585e10c4388f6f9c37e8b63269a0a99851f08ba617e28c561f43eaf4112223ff97525bf0b3897f514fce7a3acee10a61ae088c01efc5f643587
SKEYID_e = 60f6b6c10c2b6bedc085ad6546d993c9ce1f86918d1c935c89d6631170a5dab0e37298f21ca3b7901a53bde55a15fad39f782039ce26fc8c2ba8cbd9d4287669

COUNT = 1
CKY_I = e18fe09460d2253e
CKY_R = 4e31dc9878930717
Ni = 17661fa7910fc9e8
Nr = dadb31bd51eff1eb
g^xy = a5b0a3b9b814dd9acb5ef809546803e34a422564cec1cfa167e96c1d0be9d20c
SKEYID = f1180756db040ba0dc6903b2b2c629dad7d7d9d0f67e87d709664bfcff72b118c07047d4e5562d8c7ee39ddade17392778cf0b54ede304ccc7af38cc7c192ae7
SKEYID_d = e86ee06d2cae1d23550e9c416d79dd0f76f7a9b4af055d749bd7ad30754f93e93b28de26591f9c1a7a55272f6eb4e913e838a66c9e337e0828f3acced2bd17e6
SKEYID_a = 15cc4109e6f653df180ff79526081aaef40051159bf97d109dc419a6e92341d1fd1e8af628e10cb3d07523add056fbd8b10dd00d9b0a721352d4a9da7d3430f9
SKEYID_e = 33bdbd1c87861ef54970c975b6b5823aec5a4b7f9c44b37d7ae4e2604fb0551225f7799db0a965ae629435ca8d1f28c6ba23298fe12f58021f4c2df407437b7c

COUNT = 2
CKY_I = 387d9c68100420fe
CKY_R = c75dc3217f11d077
Ni = 77bbb964274d2451
Nr = 2a7b1686fc42515e
g^xy = f986f6a80143270273df4444cc30b845ed7fd563e352aafa491d9befdd804079
SKEYID = e0d27b7d9af78d708d46e2aaba42d96d036913ba3be64a6430abd816ead156e9a76fdda51923b85acf4201ed2f81d220db6f21a7fa0a3156b2df8cc4bb40a2c4
SKEYID_d = 77d8214974ac572ca5cf38205346f3885eb2258e35d1359209aa2dee6291d81ded13bc081ad3fcca0447e3e7146d662c5be2b336bf355b3dca7ffc50956723e5
SKEYID_a = d51c791f33e0e6a83ad3590f8870495c9a82e02c08c5b13f6236e6a8db5ac28ddd967025708b853c356a39829b5300ddb6be44e520a38d9be51dba9842924d96
SKEYID_e = 13b191d6e97220f89fd1a7e012d0ff4b59832a4a87e94487de1cd41258308357b23b36f6367b36fdcbe2a40817d40a7587fabeb665f8708c9d7bb743c0383907

[g^xy length = 2048]
[SHA-1]
[Ni length = 64]
[Nr length = 64]

COUNT = 0
CKY_I = 54301963024156f5
CKY_R = eaa8d2ce98d97f13
Ni = 5d58318d0767a193
Nr = 5de26de18128440a
g^xy = a6d90e195564a545e77de6ab7184a9b273c860de9ba5918eb4e8947fab92e2a8d64bc477954dcd1fc1277e81d69848807aa8342975b5c16dac0aff195e2d1109b030ca8ac93a778e5700a7a4f3f9b2849aaceb4abc7d4b0b92218ca9ba2a8858fc7b0ce933e61470b7d7de7230837226652e124336901f8afe0eb53ac7c07b5529d877edac5d03b7c5d90860bd8099701ed75ae30e645a9165c380e2132f892488472d4941acfdb990a8253ea3b63e2c3f4792081a89280ed067d69163ff954d4b1ac7594a2d322b802747f5f7fbd7a2423bb573b606b707a55cc9da1b6202520d72d208a597fb93916404f804697618fe3747892ddfb62468fcca29bf6e0c26
SKEYID = 90675480590ce12a34442707602478e53ce4822c
SKEYID_d = d29032857df9d32163a7543a2d03939f6c5d2b31
SKEYID_a = a0634192948ce4559e2bf45682098b9a7cfddd82
SKEYID_e = 645de341a146f4e15e92fa42265243441fe20c77
";

/// One COUNT of a CAVS file, with the hash of its section.
struct Vector {
    hash: HashAlg,
    fields: Vec<(String, Vec<u8>)>,
}

impl Vector {
    fn get(&self, name: &str) -> &[u8] {
        match self.fields.iter().find(|(k, _)| k == name) {
            Some((_, v)) => v,
            None => panic!("vector without {name}"),
        }
    }

    fn cookie(&self, name: &str) -> u64 {
        u64::from_be_bytes(self.get(name).try_into().expect("8-byte cookie"))
    }
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

/// Parses the CAVS "fax" subset used here: `[SHA-x]` section headers (the other headers only
/// state lengths), `COUNT = n` opening a vector, `NAME = hex` fields.
fn parse(fax: &str) -> Vec<Vector> {
    let mut hash = None;
    let mut out: Vec<Vector> = Vec::new();
    for line in fax.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(h) = line.strip_prefix('[') {
            match h {
                "SHA-1]" => hash = Some(HashAlg::Sha1),
                "SHA-256]" => hash = Some(HashAlg::Sha256),
                "SHA-384]" => hash = Some(HashAlg::Sha384),
                "SHA-512]" => hash = Some(HashAlg::Sha512),
                _ => {}
            }
            continue;
        }
        let (k, v) = line.split_once(" = ").expect("NAME = value");
        if k == "COUNT" {
            out.push(Vector { hash: hash.expect("hash header"), fields: Vec::new() });
        } else {
            out.last_mut().expect("COUNT first").fields.push((k.to_owned(), unhex(v)));
        }
    }
    out
}

fn check_children(v: &Vector, skeyid: SecretBytes) {
    let g_xy = v.get("g^xy");
    let keys = Phase1Keys::derive(v.hash, skeyid, g_xy, v.cookie("CKY_I"), v.cookie("CKY_R"), 32);
    assert_eq!(keys.skeyid().as_bytes(), v.get("SKEYID"));
    assert_eq!(keys.skeyid_d().as_bytes(), v.get("SKEYID_d"));
    assert_eq!(keys.skeyid_a().as_bytes(), v.get("SKEYID_a"));
    assert_eq!(keys.skeyid_e().as_bytes(), v.get("SKEYID_e"));
    assert_eq!(keys.hash(), v.hash);
}

fn count_hashes(vs: &[Vector]) -> [usize; 4] {
    let n = |h| vs.iter().filter(|v| v.hash == h).count();
    [n(HashAlg::Sha1), n(HashAlg::Sha256), n(HashAlg::Sha384), n(HashAlg::Sha512)]
}

#[test]
fn nist_cavp_ikev1_pre_shared_key() {
    let vs = parse(PSK_FAX);
    assert_eq!(count_hashes(&vs), [5, 4, 3, 3]);
    for v in &vs {
        let skeyid = skeyid_psk(v.hash, v.get("pre-shared-key"), v.get("Ni"), v.get("Nr"));
        check_children(v, skeyid);
    }
}

#[test]
fn nist_cavp_ikev1_digital_signature() {
    let vs = parse(DSA_FAX);
    assert_eq!(count_hashes(&vs), [5, 4, 3, 3]);
    for v in &vs {
        let skeyid = skeyid_sig(v.hash, v.get("Ni"), v.get("Nr"), v.get("g^xy"));
        check_children(v, skeyid);
    }
}

/// HMAC-SHA-1 / HMAC-SHA-256 of `data` under `key`, straight from the `hmac` crate.
fn hmac_ref(h: HashAlg, key: &[u8], data: &[u8]) -> Vec<u8> {
    match h {
        HashAlg::Sha1 => {
            let mut m = <Hmac<Sha1> as KeyInit>::new_from_slice(key).expect("any key length");
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        HashAlg::Sha256 => {
            let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        other => panic!("no reference for {other}"),
    }
}

/// RFC 2409 appendix B, written out: "Ka = K1 | K2 | K3 ...; K1 = prf(SKEYID_e, 0);
/// K2 = prf(SKEYID_e, K1); K3 = prf(SKEYID_e, K2)", where 0 is a single zero octet; SKEYID_e
/// itself when it is long enough.
fn ka_ref(h: HashAlg, skeyid_e: &[u8], len: usize) -> Vec<u8> {
    if skeyid_e.len() >= len {
        return skeyid_e[..len].to_vec();
    }
    let mut ka = Vec::new();
    let mut k = hmac_ref(h, skeyid_e, &[0]);
    while ka.len() < len {
        ka.extend_from_slice(&k);
        k = hmac_ref(h, skeyid_e, &k);
    }
    ka.truncate(len);
    ka
}

/// The KEYMAT seed of RFC 2409 section 5.5: [g(qm)^xy |] protocol | SPI | Ni_b | Nr_b.
fn qm_seed(g_qm: Option<&[u8]>, protocol: u8, spi: u32, ni: &[u8], nr: &[u8]) -> Vec<u8> {
    let mut seed = Vec::new();
    seed.extend_from_slice(g_qm.unwrap_or_default());
    seed.push(protocol);
    seed.extend_from_slice(&spi.to_be_bytes());
    seed.extend_from_slice(ni);
    seed.extend_from_slice(nr);
    seed
}

/// RFC 2409 section 5.5, written out: "KEYMAT = K1 | K2 | K3 | ... where K1 = prf(SKEYID_d,
/// [ g(qm)^xy | ] protocol | SPI | Ni_b | Nr_b), K2 = prf(SKEYID_d, K1 | [ g(qm)^xy | ]
/// protocol | SPI | Ni_b | Nr_b) ...".
fn keymat_ref(h: HashAlg, skeyid_d: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut prev: Vec<u8> = Vec::new();
    while out.len() < len {
        let mut input = prev.clone();
        input.extend_from_slice(seed);
        prev = hmac_ref(h, skeyid_d, &input);
        out.extend_from_slice(&prev);
    }
    out.truncate(len);
    out
}

#[test]
fn ka_expansion_matches_appendix_b() {
    // The first SHA-1 PSK vector's SKEYID_e (20 bytes): AES-128 takes a prefix, AES-192 and
    // AES-256 need K1 | K2.
    let vs = parse(PSK_FAX);
    let v = &vs[0];
    let e = v.get("SKEYID_e");
    for len in [16, 20, 24, 32, 41, 64] {
        let ka = expand_ka(HashAlg::Sha1, &SecretBytes::from_slice(e), len);
        assert_eq!(ka.as_bytes(), ka_ref(HashAlg::Sha1, e, len), "Ka of {len} bytes");
    }
    // Through derive: SHA-256 SKEYID_e (32 bytes) covers AES-256 without expansion.
    let v = vs.iter().find(|v| v.hash == HashAlg::Sha256).expect("SHA-256 vector");
    let skeyid = skeyid_psk(v.hash, v.get("pre-shared-key"), v.get("Ni"), v.get("Nr"));
    let keys =
        Phase1Keys::derive(v.hash, skeyid, v.get("g^xy"), v.cookie("CKY_I"), v.cookie("CKY_R"), 32);
    assert_eq!(keys.enc_key().as_bytes(), v.get("SKEYID_e"));
    let v = &vs[0];
    let skeyid = skeyid_psk(v.hash, v.get("pre-shared-key"), v.get("Ni"), v.get("Nr"));
    let keys =
        Phase1Keys::derive(v.hash, skeyid, v.get("g^xy"), v.cookie("CKY_I"), v.cookie("CKY_R"), 32);
    assert_eq!(keys.enc_key().as_bytes(), ka_ref(HashAlg::Sha1, v.get("SKEYID_e"), 32));
}

#[test]
fn keymat_expansion_matches_section_5_5() {
    for (h, fax) in [(HashAlg::Sha1, DSA_FAX), (HashAlg::Sha256, PSK_FAX)] {
        let vs = parse(fax);
        let v = vs.iter().find(|v| v.hash == h).expect("vector");
        let skeyid = skeyid_sig(h, v.get("Ni"), v.get("Nr"), v.get("g^xy"));
        let keys =
            Phase1Keys::derive(h, skeyid, v.get("g^xy"), v.cookie("CKY_I"), v.cookie("CKY_R"), 16);
        let d = keys.skeyid_d().as_bytes().to_vec();
        let (ni, nr) = (v.get("Ni"), v.get("Nr"));
        let pfs = [0x5au8; 256];
        for g in [None, Some(&pfs[..])] {
            for len in [0, 16, 20, 36, 52, 64, 100] {
                let km = keymat(&keys, g, 3, 0xc0ff_ee01, ni, nr, len);
                assert_eq!(
                    km.as_bytes(),
                    keymat_ref(h, &d, &qm_seed(g, 3, 0xc0ff_ee01, ni, nr), len),
                    "{h} KEYMAT of {len} bytes, pfs {}",
                    g.is_some()
                );
            }
        }
        // child_keys: each direction is its own KEYMAT (its receiver's SPI), encryption key
        // first; AES-256-CBC + HMAC-SHA-256: 32 + 32 bytes.
        let lens = EspKeyLengths { encr: 32, integ: 32 };
        let qm = child_keys(&keys, Some(&pfs), 3, (ni, nr), (0x1000, 0x2000), lens);
        let inbound = keymat_ref(h, &d, &qm_seed(Some(&pfs), 3, 0x1000, ni, nr), 64);
        let outbound = keymat_ref(h, &d, &qm_seed(Some(&pfs), 3, 0x2000, ni, nr), 64);
        assert_eq!(qm.inbound.encr.as_bytes(), &inbound[..32]);
        assert_eq!(qm.inbound.integ.as_bytes(), &inbound[32..]);
        assert_eq!(qm.outbound.encr.as_bytes(), &outbound[..32]);
        assert_eq!(qm.outbound.integ.as_bytes(), &outbound[32..]);
        // The peer computes the same two SAs with the SPIs swapped.
        let peer = child_keys(&keys, Some(&pfs), 3, (ni, nr), (0x2000, 0x1000), lens);
        assert_eq!(peer.outbound.encr.as_bytes(), qm.inbound.encr.as_bytes());
        assert_eq!(peer.inbound.integ.as_bytes(), qm.outbound.integ.as_bytes());
    }
}

#[test]
fn aes_gcm_keymat_carries_the_salt() {
    // AES-256-GCM: 32-byte key + 4-byte salt, no integrity key (RFC 4106 section 8.1).
    let v = &parse(PSK_FAX)[0];
    let skeyid = skeyid_psk(v.hash, v.get("pre-shared-key"), v.get("Ni"), v.get("Nr"));
    let keys =
        Phase1Keys::derive(v.hash, skeyid, v.get("g^xy"), v.cookie("CKY_I"), v.cookie("CKY_R"), 16);
    let t = dataplane::crypto::Transform::new(
        dataplane::crypto::Cipher::AesGcm {
            key: dataplane::crypto::AesKeyLen::Aes256,
            icv_len: 16,
        },
        dataplane::crypto::Integ::None,
    )
    .expect("GCM transform");
    let lens = EspKeyLengths::of(&t);
    assert_eq!(lens, EspKeyLengths { encr: 36, integ: 0 });
    let qm = child_keys(&keys, None, 3, (v.get("Ni"), v.get("Nr")), (1, 2), lens);
    assert_eq!(qm.inbound.encr.len(), 36);
    assert!(qm.inbound.integ.is_empty());
    assert_eq!(
        qm.inbound.encr.as_bytes(),
        keymat(&keys, None, 3, 1, v.get("Ni"), v.get("Nr"), 36).as_bytes()
    );
}
