provider "azure" {}

provider "aws" {
  region = "us-west-2"
}

provider "aws" {
  region          = "eu-west-1"
  assume_role_arn = "CordonResponder"
}
