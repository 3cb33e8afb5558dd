# User-style 9.x module blocks (written for runnergen's tests): two blocks with the same
# environment (their pool names collide), a docker runner on its own spot instance with an
# Elastic IP, and an input the module does not have.
module "runner_docker" {
  source  = "cattle-ops/gitlab-runner/aws"
  version = "~> 9.5"

  environment = "ci"
  vpc_id      = "vpc-0a1b2c3d4e5f60718"
  subnet_id   = "subnet-0a1b2c3d4e5f60718"

  runner_gitlab = {
    url            = "https://gitlab.example.com"
    runner_version = "18.4.0"
  }

  runner_instance = {
    name                 = "ci-docker"
    type                 = "m7i.large"
    spot_price           = "on-demand-price"
    use_eip              = true
    private_address_only = false
  }

  runner_manager = {
    maximum_concurrent_jobs = 4
  }

  runner_worker = {
    type = "docker"
  }

  runner_worker_docker_options = {
    image = "ruby:3.3"
  }

  runner_worker_egress_rules = {}

  no_such_input = "ignored"
}

module "runner_autoscaler" {
  source  = "cattle-ops/gitlab-runner/aws"
  version = "9.5.2"

  environment = "ci"
  vpc_id      = "vpc-0a1b2c3d4e5f60718"
  subnet_id   = "subnet-0a1b2c3d4e5f60718"

  runner_gitlab = {
    url            = "https://gitlab.example.com"
    runner_version = "18.4.0"
  }

  runner_worker = {
    type     = "docker-autoscaler"
    max_jobs = 5
  }

  runner_worker_docker_autoscaler_asg = {
    types = ["m7i.large", "m6i.large"]
  }

  runner_metadata_options = {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  runner_cloudwatch = {
    enable = false
  }

  runner_worker_cache = {
    create = false
    bucket = "acme-runner-cache"
    shared = true
  }
}
