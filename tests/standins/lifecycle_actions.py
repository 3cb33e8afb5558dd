#!/usr/bin/env python3
"""Stand-in for the EC2 Auto Scaling calls that moto (the AWS emulator the tests run) does not
implement: CompleteLifecycleAction and RecordLifecycleActionHeartbeat (moto 5.2.5 answers them
with HTTP 500, NotImplementedError), and an UpdateAutoScalingGroup that changes only part of a
group's mixed instances policy, such as its InstancesDistribution (moto 5.2.5 requires the policy's
LaunchTemplate on every update, fails with HTTP 500 without it, and replaces the whole policy;
AWS requires the LaunchTemplate only when a policy is created, and keeps what an update leaves
out). Such an update is completed from the group's current policy, as AWS would, and passed on.
Every other Auto Scaling request is passed to moto as it is.

Usage: lifecycle_actions.py MOTO_URL LOG. Serves on 127.0.0.1, prints its port on its first line.
The two calls are checked against moto's own state, as AWS would: the group must exist, have a
lifecycle hook of that name, and hold the instance; a CompleteLifecycleAction's result must be
CONTINUE or ABANDON. Each accepted call is appended to LOG as one line of JSON.
"""
import http.server
import json
import sys
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

MOTO, LOG = sys.argv[1], sys.argv[2]
NS = {"a": "http://autoscaling.amazonaws.com/doc/2011-01-01/"}


def moto(params):
    """An Auto Scaling Query API call to moto; returns the parsed XML."""
    body = urllib.parse.urlencode(params).encode()
    request = urllib.request.Request(MOTO + "/", data=body, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
    # moto routes by the service in the credential scope.
    request.add_header("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20260101/eu-central-1/autoscaling/aws4_request")
    with urllib.request.urlopen(request) as response:
        return ET.fromstring(response.read())


def check(form):
    """Why AWS would refuse this call, or None."""
    group, hook, instance = form.get("AutoScalingGroupName"), form.get("LifecycleHookName"), form.get("InstanceId")
    if not (group and hook and instance):
        return "AutoScalingGroupName, LifecycleHookName and InstanceId are required"
    hooks = moto({"Action": "DescribeLifecycleHooks", "Version": "2011-01-01", "AutoScalingGroupName": group})
    names = [e.text for e in hooks.iterfind(".//a:LifecycleHookName", NS)]
    if hook not in names:
        return f"No Lifecycle Hook found with name {hook} for group {group}"
    instances = moto({"Action": "DescribeAutoScalingInstances", "Version": "2011-01-01", "InstanceIds.member.1": instance})
    groups = [e.text for e in instances.iterfind(".//a:AutoScalingGroupName", NS)]
    if group not in groups:
        return f"Instance {instance} is not in group {group}"
    if form["Action"] == "CompleteLifecycleAction" and form.get("LifecycleActionResult") not in ("CONTINUE", "ABANDON"):
        return "LifecycleActionResult must be CONTINUE or ABANDON"
    return None


def flatten(element, prefix, out):
    """An element of a Query API answer as the request fields that would set it."""
    children = list(element)
    if not children:
        out[prefix] = element.text or ""
        return
    for i, child in enumerate(children):
        name = child.tag.split("}")[-1]
        if name == "member":
            flatten(child, f"{prefix}.member.{i + 1}", out)
        else:
            flatten(child, f"{prefix}.{name}", out)


def complete_policy(form):
    """A partial mixed instances policy update completed from the group's current policy."""
    policy = "MixedInstancesPolicy."
    if not any(k.startswith(policy) for k in form) or any(k.startswith(policy + "LaunchTemplate.") for k in form):
        return form
    groups = moto({"Action": "DescribeAutoScalingGroups", "Version": "2011-01-01",
                   "AutoScalingGroupNames.member.1": form.get("AutoScalingGroupName", "")})
    current = groups.find(".//a:MixedInstancesPolicy", NS)
    if current is None:
        return form
    merged = {}
    flatten(current, "MixedInstancesPolicy", merged)
    # The answer names the template both ways; a request names it one way.
    merged.pop("MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification.LaunchTemplateName", None)
    merged.update(form)
    return merged


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="text/xml"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        form = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
        action = form.get("Action")
        if action in ("CompleteLifecycleAction", "RecordLifecycleActionHeartbeat"):
            why = check(form)
            if why:
                error = f'<ErrorResponse xmlns="{NS["a"]}"><Error><Type>Sender</Type><Code>ValidationError</Code><Message>{why}</Message></Error><RequestId>standin</RequestId></ErrorResponse>'
                self.reply(400, error.encode())
                return
            with open(LOG, "a") as log:
                log.write(json.dumps(form, sort_keys=True) + "\n")
            answer = f'<{action}Response xmlns="{NS["a"]}"><{action}Result/><ResponseMetadata><RequestId>standin</RequestId></ResponseMetadata></{action}Response>'
            self.reply(200, answer.encode())
            return
        if action == "UpdateAutoScalingGroup":
            form = complete_policy(form)
            raw = urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(MOTO + self.path, data=raw, method="POST")
        for name in ("Content-Type", "Authorization", "X-Amz-Date", "X-Amz-Target"):
            if self.headers.get(name):
                request.add_header(name, self.headers[name])
        try:
            with urllib.request.urlopen(request) as response:
                self.reply(response.status, response.read(), response.headers.get("Content-Type", "text/xml"))
        except urllib.error.HTTPError as e:
            self.reply(e.code, e.read(), e.headers.get("Content-Type", "text/xml"))


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
