# Every kind of reference (written for runnergen's tests): var., local. (one a literal locals
# block defines, one it does not), module., data., each., a function call and a conditional.
locals {
  url = "https://gitlab.example.com"
  computed = upper("x")
}

module "runner" {
  source   = "cattle-ops/gitlab-runner/aws"
  version  = "9.5.2"
  for_each = toset(["a"])

  environment = each.key
  vpc_id      = data.aws_vpc.main.id
  subnet_id   = var.subnet_id

  runner_gitlab = {
    url            = local.url
    runner_version = local.computed
  }

  runner_worker = {
    type     = "docker-autoscaler"
    max_jobs = var.max_jobs > 0 ? var.max_jobs : 10
  }

  runner_worker_docker_autoscaler = {
    fleeting_plugin_version = "1.2.0"
  }

  runner_worker_docker_autoscaler_asg = {
    types = split(",", var.worker_types)
  }

  runner_worker_docker_autoscaler_autoscaling_options = module.policies.options

  tags = merge(var.tags, { team = "ci" })
}
