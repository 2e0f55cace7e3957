// Test vectors made with OpenSSH 9.2 ssh-keygen; fingerprints as `ssh-keygen -l [-E md5]` printed
// them.
#include "tests/support/test_keys.h"

#include "absl/strings/escaping.h"

namespace keyfleet::testing {

const std::vector<KeyVector>& KeyVectors() {
  static const std::vector<KeyVector> vectors = {
      {"ed25519",
       "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAW53AlXRnBEcxRF/Kzhodm/BfbHN9ejfRvr58es7nwZ "
       "ed25519@test",
       256, "SHA256:szjAx/StSfpFj13sT1oF+/38V+2oX0cHFlCq+pTiUOo",
       "MD5:0c:a7:da:39:55:32:68:3a:0a:97:a6:29:cd:f7:d9:8f", "ED25519"},
      {"ecdsa256",
       "ecdsa-sha2-nistp256 "
       "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBDAVSyJ5E8cgwNMOxOWO1+vftzCjm1VpuBKeD+"
       "c10vjswnzktWd2rOA+Y6RaCXWkH6ZoZeNMh7XTc3JYuhnnRpY= ecdsa256@test",
       256, "SHA256:ji5T5qMACzHw6HGXyLq7jTT7fjFZrHO5ixwYNXbJbR8",
       "MD5:7c:c4:c5:7b:bb:16:12:ae:59:da:84:51:85:13:3e:59", "ECDSA"},
      {"ecdsa384",
       "ecdsa-sha2-nistp384 "
       "AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBPqDvykIv/"
       "78sSDTklgtAabs12sz9ihArsWZLeSqwzLgieMe3yupSc7WUiy8itL4U/"
       "swbvZNUybFhBedch9QAt27jAF9QxXk6V+4dR9mwc9qcOmljVsDzz/ew6Sj6m9v6A== ecdsa384@test",
       384, "SHA256:M7jLl9GaoTaH3W7mNZNj8uBb/SRdIj1hDUuVajRfrA0",
       "MD5:75:92:8e:eb:0e:07:4d:49:f9:77:b7:49:74:9d:89:04", "ECDSA"},
      {"ecdsa521",
       "ecdsa-sha2-nistp521 "
       "AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAG6A7QmEl1UO4Q5zcwk8U//932zSgp/"
       "C3iUPCGV6lJdyEU8tRa0Sw83clE1D01eEwl0q/"
       "wSxRbiod1VBUpaV2GDMwGwtdku1ExV+"
       "hYQaNx8H4r73Vrozq0NRwteW60CMNGwJS9I9RXrC7ZnnrZJGiLUo0HksalkReHbNeC0IYRMwwes/w== "
       "ecdsa521@test",
       521, "SHA256:D1rbOCw34KovpzBYwKWC2kQYS4wW/ogSR931crXUATQ",
       "MD5:e6:43:f0:d5:c7:f7:e2:fd:d5:8b:4e:03:80:fa:25:51", "ECDSA"},
      {"rsa2048",
       "ssh-rsa "
       "AAAAB3NzaC1yc2EAAAADAQABAAABAQDAQiDnZkq/QvMzSYGd5QW7hg8EohroJaGmzUdsfn6avYfjfW9Q/"
       "HK+"
       "P4Wsh0qO7j0JtMjJjQkITEFeqNWSNUo1sgtgEIw5goKRHW9XvLkUqTgluNyfYeCZ0rbwq86FFJ6JtgcOcmab01FMXT1"
       "syEX5ZquGbTfYEBdCCIogJ8q1YsfATQSN8eaTM4TwcD5xXDGaQkjA8jPw7h/"
       "n2tjtwQ1JZiqDXbJtpMeX2WJl2Bsx9J659hnUfYLWk89un47xx+/smCzp7QEAMPleX/o9njYvjil/"
       "vEkbfD3Ml3b4oFRPaPuBIrZYUA3MrinBVr5pV02td2vzFJ1gV5MNqiid2nyR rsa2048@test",
       2048, "SHA256:RPkYX5laeZwVc1xqo7O/UU0qakpJWI+ixhtXtG8GI5M",
       "MD5:cd:f3:4e:65:dc:23:90:97:82:90:77:be:72:8a:45:0c", "RSA"},
      {"rsa1024",
       "ssh-rsa "
       "AAAAB3NzaC1yc2EAAAADAQABAAAAgQDiJT096WjTTGk7/"
       "hOPw5haWw3nq+4wf1MNxWH4BhrkcnrAlYahsMsrW1X2W7TlDbiS3MrRR9enVk8j6/"
       "G6BGMBIKPE9yar8Myfqo3ZWnN4sBfTITnLjwA+LDnHcbjeLyiyhTwChJ2jFbC9L9MDNUdCe90g9WfBEIdw+Hn/"
       "N4UX8Q== rsa1024@test",
       1024, "SHA256:0uMzG00fizJBHWcgixYwe6IUdfKJB7Wby1fe9tgBn44",
       "MD5:24:df:07:53:2e:58:70:0d:d4:25:60:96:09:6b:ce:33", "RSA"},
      {"dsa",
       "ssh-dss "
       "AAAAB3NzaC1kc3MAAACBAOiXYfg0Fjs3fj73YN4cyADXF5uCFVg4BLBYg6hATS1r4LQFchHibiOIzYjMYOiKVk5Fqro"
       "HXHCYKD3O1E7a+JS0253bL2r8GE5+swjFBKtDJigXUVWCkPmibKUt0hGAeQdMS4OWsAP2pxdsYyylKlzr/"
       "UXp6JY7IXd+"
       "UsN2mMkTAAAAFQC2ZajmlJPatlgf44SKI1FB5zNqPwAAAIAa96G5OUNwokgEcLGw2TIR7R5zbit6cThpYWZSWkbntqe"
       "J+SunCNlR7s+8dt1THW7GWl9EonVffxCDYwAxMHhDK+u03zdl7y+GlI86mxsTf9q8+nj5YwtN2zt9hY+"
       "APPAJm5tKjXRUs2BD+W5OckzGF8gACtUIIAmgKl345ndr2QAAAIBO3js/"
       "+jiaFpeDiglpMDa2PqHwscGqhTdpJ33+UNMYKQydx5b8E+qTIsCm8+tSVGBPk/W1PRj26Si/"
       "o+gMLhlBN3SRhn7Ykse4BPi0dWlgnl8QqEPbvKR5Lu7Rx8ciZ6lW3/WC0O0QDTVxyiz5a5YbbVYTq3SyB/"
       "YEoUp35BQwaQ== dsa@test",
       1024, "SHA256:wUcV4QANmmMeS/qMC5rowq75DqqkVg6BaCJeaBVt9fk",
       "MD5:75:dd:70:d9:4f:ff:9a:3a:0f:a0:51:da:71:f8:32:3a", "DSA"},
      {"u_ed-cert",
       "ssh-ed25519-cert-v01@openssh.com "
       "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIMJmxKBbQkevRLSh3b/"
       "Q3pxmSPeYEeIYp8DUg2bxW9AsAAAAIAW53AlXRnBEcxRF/Kzhodm/"
       "BfbHN9ejfRvr58es7nwZAAAAAAAAAAAAAAABAAAABWlkLWVkAAAAEAAAAAVhbGljZQAAAANib2IAAAAAawFIAAAAAAB"
       "s4SpzAAAAAAAAAIIAAAAVcGVybWl0LVgxMS1mb3J3YXJkaW5nAAAAAAAAABdwZXJtaXQtYWdlbnQtZm9yd2FyZGluZw"
       "AAAAAAAAAWcGVybWl0LXBvcnQtZm9yd2FyZGluZwAAAAAAAAAKcGVybWl0LXB0eQAAAAAAAAAOcGVybWl0LXVzZXItc"
       "mMAAAAAAAAAAAAAADMAAAALc3NoLWVkMjU1MTkAAAAgkdaLjjll2fLSyuYLL82bjmFYhzC8Ltov+"
       "2WmlkL0B3sAAABTAAAAC3NzaC1lZDI1NTE5AAAAQJCJLTaKCg6rPvFyMLBazENiKbU2iXuGqZdNXcEfwQZr6Ac1Y+/"
       "Rs1ordSKgeyWC9iUgZRVE4/fqltGtBPJe5w4= ed25519@test",
       256, "SHA256:szjAx/StSfpFj13sT1oF+/38V+2oX0cHFlCq+pTiUOo",
       "MD5:0c:a7:da:39:55:32:68:3a:0a:97:a6:29:cd:f7:d9:8f", "ED25519-CERT"},
      {"u_ec-cert",
       "ssh-ed25519-cert-v01@openssh.com "
       "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIGbtZmR0jknSPlT2aG3Y4s7VzeDwRsF8pzFf2cA"
       "f+gIDAAAAIAW53AlXRnBEcxRF/Kzhodm/"
       "BfbHN9ejfRvr58es7nwZAAAAAAAAAAAAAAABAAAABWlkLWVjAAAAEAAAAAVhbGljZQAAAANib2IAAAAAawFIAAAAAAB"
       "s4SpzAAAAAAAAAIIAAAAVcGVybWl0LVgxMS1mb3J3YXJkaW5nAAAAAAAAABdwZXJtaXQtYWdlbnQtZm9yd2FyZGluZw"
       "AAAAAAAAAWcGVybWl0LXBvcnQtZm9yd2FyZGluZwAAAAAAAAAKcGVybWl0LXB0eQAAAAAAAAAOcGVybWl0LXVzZXItc"
       "mMAAAAAAAAAAAAAAGgAAAATZWNkc2Etc2hhMi1uaXN0cDI1NgAAAAhuaXN0cDI1NgAAAEEEuUPsopVoXfdHYmct5IkI"
       "sJ/MgWtckZWkyK388RgHduwWo0eZQ7K20tHvMnCf3YTnzSkDybF/Ka0iCT/"
       "LwLJAdAAAAGUAAAATZWNkc2Etc2hhMi1uaXN0cDI1NgAAAEoAAAAhAP7+"
       "wCYSVHgBUXjpgzhHi8wLskr9sDvZMNR94Fs4hPBnAAAAIQDonV9Anr8xw/"
       "4oWNHvllgifSHalpZH9JvIg6JYC1VTjg== ed25519@test",
       256, "SHA256:szjAx/StSfpFj13sT1oF+/38V+2oX0cHFlCq+pTiUOo",
       "MD5:0c:a7:da:39:55:32:68:3a:0a:97:a6:29:cd:f7:d9:8f", "ED25519-CERT"},
      {"u_rsa-cert",
       "ssh-ed25519-cert-v01@openssh.com "
       "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAIGIjtGmji2HT34XV3JN9NAwiPcYATTHP/"
       "agkMWYtyqgeAAAAIAW53AlXRnBEcxRF/Kzhodm/"
       "BfbHN9ejfRvr58es7nwZAAAAAAAAAAAAAAABAAAABmlkLXJzYQAAABAAAAAFYWxpY2UAAAADYm9iAAAAAGsBSAAAAAA"
       "AbOEqcwAAAAAAAACCAAAAFXBlcm1pdC1YMTEtZm9yd2FyZGluZwAAAAAAAAAXcGVybWl0LWFnZW50LWZvcndhcmRpbm"
       "cAAAAAAAAAFnBlcm1pdC1wb3J0LWZvcndhcmRpbmcAAAAAAAAACnBlcm1pdC1wdHkAAAAAAAAADnBlcm1pdC11c2VyL"
       "XJjAAAAAAAAAAAAAAEXAAAAB3NzaC1yc2EAAAADAQABAAABAQC2ErUB+td9i8fpJDOXdtGYC6NoGdXGpPMCm5+"
       "6z2rdNhcJ2jgW2djSoMBIOq7XSNPiP2gMHI9TOt8yKeRhYgC4X51EUb9bjMBauS5xf3Me2bkAZwQVQStzB8qzPu1lGa"
       "cpz+2i+xsNQx1rzX5ghEZi2bfxA7bj80TtHiBzYvjdhMY5xZK5lq92+fPK6Dy3abM51q3HrLxfVXlQix4PXi/"
       "7LCDt97Dr3htAfmThf8YagMG2e7n9CtPrCppZA3RulUep08AG0O3Nah3m/"
       "lZuWMYNueJblPDx8XqbK4I19Y5hZdrZ2mIE4DZjFjpCeJ9+"
       "Z53rG9IRIsdcg9NKewYr3GM5AAABFAAAAAxyc2Etc2hhMi01MTIAAAEAaP3Ah6QlYJILnBDWRL8BvZGwsLJxiuXJHcJ"
       "kQFXTwruxJjobDARNhWdRXwa3zvdD9/"
       "BmzslDpp0aJYW5749Kb8pMuiO+Cour160EZQIMBsil+Z3t0xapKgEhObLyGxVSaKS4U0AeExlBUi3kHUIN6JVSG+"
       "CWlbL+dNrjVlAbxhUxx3QuGtnvB2mUvAXMX2Im+4n0d+dwotY1k9EGbknUkyV5M0uhmj8f1D+DSEd2i0a4TKrT/"
       "0OWNky8mq6DsYgIXMNtTpH9IKw5zoo6wmIHz9Ttot6OsKOFBT+sV8vmLiRewAXt/BbO7oLgbxz/"
       "6etOh365QteaO1fttzAvXPOJGw== ed25519@test",
       256, "SHA256:szjAx/StSfpFj13sT1oF+/38V+2oX0cHFlCq+pTiUOo",
       "MD5:0c:a7:da:39:55:32:68:3a:0a:97:a6:29:cd:f7:d9:8f", "ED25519-CERT"},
      {"rsa2048-cert",
       "ssh-rsa-cert-v01@openssh.com "
       "AAAAHHNzaC1yc2EtY2VydC12MDFAb3BlbnNzaC5jb20AAAAgEvVX/"
       "6eyES3i6auRww2zpdk93r1NvtrTBQAvXaGio8oAAAADAQABAAABAQDAQiDnZkq/"
       "QvMzSYGd5QW7hg8EohroJaGmzUdsfn6avYfjfW9Q/"
       "HK+"
       "P4Wsh0qO7j0JtMjJjQkITEFeqNWSNUo1sgtgEIw5goKRHW9XvLkUqTgluNyfYeCZ0rbwq86FFJ6JtgcOcmab01FMXT1"
       "syEX5ZquGbTfYEBdCCIogJ8q1YsfATQSN8eaTM4TwcD5xXDGaQkjA8jPw7h/"
       "n2tjtwQ1JZiqDXbJtpMeX2WJl2Bsx9J659hnUfYLWk89un47xx+/smCzp7QEAMPleX/o9njYvjil/"
       "vEkbfD3Ml3b4oFRPaPuBIrZYUA3MrinBVr5pV02td2vzFJ1gV5MNqiid2nyRAAAAAAAAAAAAAAABAAAACHJzYS11c2V"
       "yAAAACQAAAAVjYXJvbAAAAAAAAAAA//////////"
       "8AAAAAAAAAggAAABVwZXJtaXQtWDExLWZvcndhcmRpbmcAAAAAAAAAF3Blcm1pdC1hZ2VudC1mb3J3YXJkaW5nAAAAA"
       "AAAABZwZXJtaXQtcG9ydC1mb3J3YXJkaW5nAAAAAAAAAApwZXJtaXQtcHR5AAAAAAAAAA5wZXJtaXQtdXNlci1yYwAA"
       "AAAAAAAAAAAAMwAAAAtzc2gtZWQyNTUxOQAAACCR1ouOOWXZ8tLK5gsvzZuOYViHMLwu2i/"
       "7ZaaWQvQHewAAAFMAAAALc3NoLWVkMjU1MTkAAABA1EhXS4XG3nMd+nG2Uro85kGWoXWZy/"
       "hneOL3VR0lfjjsT4SCzpuzH7SVF8C6iBuQBFBof/ozjOtGqHhDtjXdCA== rsa2048@test",
       2048, "SHA256:RPkYX5laeZwVc1xqo7O/UU0qakpJWI+ixhtXtG8GI5M",
       "MD5:cd:f3:4e:65:dc:23:90:97:82:90:77:be:72:8a:45:0c", "RSA-CERT"},
      {"ca_ed",
       "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJHWi445Zdny0srmCy/Nm45hWIcwvC7aL/tlppZC9Ad7 ca", 256,
       "SHA256:y62hnmd6HW+80Fp3RHE2rz3YCwDu2WfmDR/50JS8D3Q",
       "MD5:fd:b6:59:2e:2f:36:f5:82:80:28:88:80:7e:27:6d:cd", "ED25519"},
  };
  return vectors;
}

const KeyVector& Vector(absl::string_view name) {
  for (const auto& v : KeyVectors()) {
    if (v.name == name) return v;
  }
  std::abort();
}

}  // namespace keyfleet::testing

namespace keyfleet::testing {

std::string SyntheticEd25519Line(uint64_t n, const std::string& comment) {
  std::string blob;
  auto put_string = [&blob](const std::string& s) {
    for (int shift = 24; shift >= 0; shift -= 8)
      blob.push_back(static_cast<char>(s.size() >> shift));
    blob += s;
  };
  std::string point(32, '\x5a');
  for (int i = 0; i < 8; ++i) point[i] = static_cast<char>(n >> (8 * i));
  put_string("ssh-ed25519");
  put_string(point);
  std::string line = "ssh-ed25519 " + absl::Base64Escape(blob);
  return comment.empty() ? line : line + " " + comment;
}

}  // namespace keyfleet::testing
